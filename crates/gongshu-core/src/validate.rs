//! Validators for the national identifier standards the platform checks.

/// The 31 characters of a unified social credit code (GB 32100-2015): digits and
/// upper-case letters without I, O, Z, S, V.
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Why a code is not valid, for a precise error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeProblem {
    Length,
    Character,
    CheckDigit,
}

fn uscc_value(c: u8) -> Option<u32> {
    USCC_ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// The check character (18th) for the first 17 characters of a credit code.
pub fn uscc_check_char(body: &str) -> Result<char, CodeProblem> {
    let bytes = body.as_bytes();
    if bytes.len() != 17 {
        return Err(CodeProblem::Length);
    }
    let mut sum = 0u32;
    for (i, &b) in bytes.iter().enumerate() {
        sum += uscc_value(b).ok_or(CodeProblem::Character)? * USCC_WEIGHTS[i];
    }
    let check = (31 - sum % 31) % 31;
    Ok(USCC_ALPHABET[check as usize] as char)
}

/// Validates a unified social credit code (统一社会信用代码, GB 32100-2015).
pub fn check_uscc(code: &str) -> Result<(), CodeProblem> {
    if code.len() != 18 || !code.is_ascii() {
        return Err(CodeProblem::Length);
    }
    let expected = uscc_check_char(&code[..17])?;
    let last = code.as_bytes()[17];
    uscc_value(last).ok_or(CodeProblem::Character)?;
    if last as char == expected {
        Ok(())
    } else {
        Err(CodeProblem::CheckDigit)
    }
}

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECKS: &[u8; 11] = b"10X98765432";

/// Validates an 18-digit resident identity number (公民身份号码, GB 11643-1999): digits,
/// a real calendar birth date, and the ISO 7064 MOD 11-2 check character.
pub fn check_resident_id(id: &str) -> Result<(), CodeProblem> {
    let b = id.as_bytes();
    if b.len() != 18 {
        return Err(CodeProblem::Length);
    }
    if !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X') {
        return Err(CodeProblem::Character);
    }
    let birth = &id[6..14];
    if chrono::NaiveDate::parse_from_str(birth, "%Y%m%d").is_err() {
        return Err(CodeProblem::Character);
    }
    let sum: u32 = b[..17]
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    if ID_CHECKS[(sum % 11) as usize] == b[17] {
        Ok(())
    } else {
        Err(CodeProblem::CheckDigit)
    }
}

/// Counts characters as a person does (a Chinese character is one), for length limits.
pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    // GB 32100: codes as printed on real business licences and government pages.
    #[test]
    fn credit_codes() {
        let cases: &[(&str, Result<(), CodeProblem>)] = &[
            ("91350100M000100Y43", Ok(())),
            ("91110000600037341L", Ok(())),
            ("11370000004239034J", Ok(())),
            ("91350100M000100Y44", Err(CodeProblem::CheckDigit)),
            ("91350100M000100Y4", Err(CodeProblem::Length)),
            ("91350100M000100Y433", Err(CodeProblem::Length)),
            ("91350100I000100Y43", Err(CodeProblem::Character)),
            ("9135010OM00010Y43啊", Err(CodeProblem::Length)),
            ("", Err(CodeProblem::Length)),
        ];
        for (code, want) in cases {
            assert_eq!(check_uscc(code), *want, "{code}");
        }
    }

    #[test]
    fn computed_check_char_validates() {
        for body in [
            "11370000MB1234567",
            "113701000000000AA",
            "11370300004000021",
        ] {
            let c = uscc_check_char(body).unwrap();
            assert_eq!(check_uscc(&format!("{body}{c}")), Ok(()));
        }
    }

    // GB 11643: the standard's own example and a few broken variants.
    #[test]
    fn resident_ids() {
        let cases: &[(&str, Result<(), CodeProblem>)] = &[
            ("11010519491231002X", Ok(())),
            ("440524188001010014", Ok(())),
            ("110105194912310021", Err(CodeProblem::CheckDigit)),
            ("11010519491331002X", Err(CodeProblem::Character)),
            ("1101051949123100", Err(CodeProblem::Length)),
            ("11010519491231002x", Err(CodeProblem::Character)),
        ];
        for (id, want) in cases {
            assert_eq!(check_resident_id(id), *want, "{id}");
        }
    }

    #[test]
    fn char_len_counts_chinese_as_one() {
        assert_eq!(char_len("山东省"), 3);
        assert_eq!(char_len("abc"), 3);
    }
}

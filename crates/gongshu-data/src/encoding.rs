//! Which text encoding a file is in. Most Chinese government CSVs are GBK (read as its
//! superset GB18030); Excel writes UTF-8 with a BOM or UTF-16; newer systems UTF-8.

use std::io::Read;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
    /// GB18030, which reads GBK and GB2312 files too.
    Gb18030,
}

impl TextEncoding {
    pub fn label(self) -> &'static str {
        match self {
            Self::Utf8 => "UTF-8",
            Self::Utf8Bom => "UTF-8 (BOM)",
            Self::Utf16Le => "UTF-16LE",
            Self::Utf16Be => "UTF-16BE",
            Self::Gb18030 => "GB18030",
        }
    }

    fn codec(self) -> &'static encoding_rs::Encoding {
        match self {
            Self::Utf8 | Self::Utf8Bom => encoding_rs::UTF_8,
            Self::Utf16Le => encoding_rs::UTF_16LE,
            Self::Utf16Be => encoding_rs::UTF_16BE,
            Self::Gb18030 => encoding_rs::GB18030,
        }
    }
}

/// Guesses the encoding from the first bytes of a file: a BOM decides; UTF-16 without
/// one shows as NUL bytes in every other position; text that is valid UTF-8 is UTF-8
/// (a sample may cut a character in two at its end); anything else is taken as GB18030.
pub fn detect(sample: &[u8]) -> TextEncoding {
    match sample {
        [0xEF, 0xBB, 0xBF, ..] => return TextEncoding::Utf8Bom,
        [0xFF, 0xFE, ..] => return TextEncoding::Utf16Le,
        [0xFE, 0xFF, ..] => return TextEncoding::Utf16Be,
        _ => {}
    }
    let probe = &sample[..sample.len().min(4096)];
    let half = probe.len() / 2;
    if half >= 4 {
        let zeros_at = |parity: usize| {
            probe
                .iter()
                .skip(parity)
                .step_by(2)
                .filter(|&&b| b == 0)
                .count()
        };
        let (even, odd) = (zeros_at(0), zeros_at(1));
        if odd * 10 > half * 3 && even * 10 < half {
            return TextEncoding::Utf16Le;
        }
        if even * 10 > half * 3 && odd * 10 < half {
            return TextEncoding::Utf16Be;
        }
    }
    match std::str::from_utf8(sample) {
        Ok(_) => TextEncoding::Utf8,
        Err(e) if e.error_len().is_none() && sample.len() - e.valid_up_to() < 4 => {
            TextEncoding::Utf8
        }
        Err(_) => TextEncoding::Gb18030,
    }
}

/// Whether the sample looks like a binary file: NUL bytes in text that is not UTF-16.
pub fn looks_binary(sample: &[u8], encoding: TextEncoding) -> bool {
    !matches!(encoding, TextEncoding::Utf16Le | TextEncoding::Utf16Be) && sample.contains(&0)
}

/// Decodes the stream to UTF-8, dropping any BOM. Undecodable bytes become U+FFFD, which
/// the reader reports on the rows that contain them.
pub fn decode<R: Read>(reader: R, encoding: TextEncoding) -> impl Read {
    encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(Some(encoding.codec()))
        .bom_override(true)
        .strip_bom(true)
        .build(reader)
}

/// Decodes a sample in memory (for sniffing the delimiter and the header).
pub fn decode_sample(sample: &[u8], encoding: TextEncoding) -> String {
    let (text, _, _) = encoding.codec().decode(sample);
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gbk(s: &str) -> Vec<u8> {
        encoding_rs::GBK.encode(s).0.into_owned()
    }

    fn utf16le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn detects_the_encodings_governments_use() {
        let text = "企业名称,统一社会信用代码\n济南某某有限公司,91370100MA3C0000X1\n";
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(text.as_bytes());
        let mut le_bom = vec![0xFF, 0xFE];
        le_bom.extend(utf16le(text));
        let ascii_utf16: Vec<u8> = utf16le("name,code\nAcme,0531\n");
        let cases: Vec<(&str, Vec<u8>, TextEncoding)> = vec![
            ("utf-8", text.as_bytes().to_vec(), TextEncoding::Utf8),
            ("utf-8 bom", bom, TextEncoding::Utf8Bom),
            ("gbk", gbk(text), TextEncoding::Gb18030),
            ("utf-16le bom", le_bom, TextEncoding::Utf16Le),
            ("utf-16le no bom", ascii_utf16, TextEncoding::Utf16Le),
            ("ascii", b"a,b\n1,2\n".to_vec(), TextEncoding::Utf8),
            // A sample that cuts the last character in two is still UTF-8.
            (
                "cut utf-8",
                text.as_bytes()[..text.len() - 2].to_vec(),
                TextEncoding::Utf8,
            ),
        ];
        for (name, bytes, want) in cases {
            assert_eq!(detect(&bytes), want, "{name}");
        }
    }

    #[test]
    fn gbk_round_trips_through_the_decoder() {
        let text = "名称,地址\n淄博市张店区,人民西路\n";
        let mut out = String::new();
        decode(&gbk(text)[..], TextEncoding::Gb18030)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, text);
    }

    #[test]
    fn binary_is_recognised() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert!(looks_binary(png, detect(png)));
        assert!(!looks_binary(b"a,b\n", TextEncoding::Utf8));
    }
}

use super::*;

fn h(s: &str) -> Hash {
    parse_hash(s).unwrap()
}

/// The reference leaves of RFC 6962's test vectors (as published by
/// transparency-dev/merkle and certificate-transparency-go).
fn reference_leaves() -> Vec<Hash> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|x| HashAlg::Sha256.leaf(&hex::decode(x).unwrap()))
    .collect()
}

/// The published heads of the trees of the first 0..=8 reference leaves.
const REFERENCE_ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

#[test]
fn tree_heads_match_the_published_rfc6962_vectors() {
    let alg = HashAlg::Sha256;
    let leaves = reference_leaves();
    let mut range = CompactRange::default();
    assert_eq!(range.root(alg), h(REFERENCE_ROOTS[0]));
    for n in 0..=leaves.len() {
        assert_eq!(alg.root(&leaves[..n]), h(REFERENCE_ROOTS[n]), "size {n}");
        if n > 0 {
            range.push(alg, leaves[n - 1]);
            assert_eq!(range.root(alg), h(REFERENCE_ROOTS[n]), "compact, size {n}");
        }
    }
}

#[test]
fn inclusion_proofs_match_the_published_vectors() {
    let alg = HashAlg::Sha256;
    let leaves = reference_leaves();
    let vectors: [(usize, usize, &[&str]); 4] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (index, size, want) in vectors {
        let want: Vec<Hash> = want.iter().map(|x| h(x)).collect();
        let proof = alg.inclusion_proof(&leaves[..size], index).unwrap();
        assert_eq!(proof, want, "leaf {index} of {size}");
        let root = h(REFERENCE_ROOTS[size]);
        assert!(alg.verify_inclusion(index as u64, size as u64, &leaves[index], &proof, &root));
    }
}

#[test]
fn consistency_proofs_match_the_published_vectors() {
    let alg = HashAlg::Sha256;
    let leaves = reference_leaves();
    let vectors: [(usize, usize, &[&str]); 4] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (first, second, want) in vectors {
        let want: Vec<Hash> = want.iter().map(|x| h(x)).collect();
        let proof = alg.consistency_proof(&leaves[..second], first).unwrap();
        assert_eq!(proof, want, "{first} → {second}");
        assert!(alg.verify_consistency(
            first as u64,
            second as u64,
            &h(REFERENCE_ROOTS[first]),
            &h(REFERENCE_ROOTS[second]),
            &proof
        ));
    }
}

fn many(alg: HashAlg, n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| alg.leaf(format!("entry {i}").as_bytes()))
        .collect()
}

/// Every proof of every shape verifies, and any change to it — another index or size, a
/// flipped bit, a hash dropped or added, the roots swapped — does not.
#[test]
fn generated_proofs_verify_and_tampered_ones_do_not() {
    for alg in [HashAlg::Sha256, HashAlg::Sm3] {
        let leaves = many(alg, 40);
        for n in 1..=leaves.len() {
            let tree = &leaves[..n];
            let root = alg.root(tree);
            let size = n as u64;
            for i in 0..n {
                let proof = alg.inclusion_proof(tree, i).unwrap();
                assert!(alg.verify_inclusion(i as u64, size, &tree[i], &proof, &root));
                let other = (i + 1) % n;
                if other != i {
                    assert!(!alg.verify_inclusion(other as u64, size, &tree[i], &proof, &root));
                }
                assert!(!alg.verify_inclusion(i as u64, size * 2, &tree[i], &proof, &root));
                let wrong = alg.leaf(b"not in the log");
                assert!(!alg.verify_inclusion(i as u64, size, &wrong, &proof, &root));
                for k in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[k][0] ^= 8;
                    assert!(!alg.verify_inclusion(i as u64, size, &tree[i], &bad, &root));
                }
                let mut longer = proof.clone();
                longer.push(root);
                assert!(!alg.verify_inclusion(i as u64, size, &tree[i], &longer, &root));
                if !proof.is_empty() {
                    let shorter = &proof[..proof.len() - 1];
                    assert!(!alg.verify_inclusion(i as u64, size, &tree[i], shorter, &root));
                }
            }
            let mut kept = MerkleTree::new(alg);
            for leaf in tree {
                kept.push(*leaf);
            }
            assert_eq!(kept.root(n), Some(root));
            for i in 0..n {
                assert_eq!(kept.inclusion_proof(i, n), alg.inclusion_proof(tree, i));
            }
            for m in 0..=n {
                let first_root = alg.root(&tree[..m]);
                let proof = alg.consistency_proof(tree, m).unwrap();
                assert_eq!(kept.consistency_proof(m, n), Some(proof.clone()));
                assert_eq!(kept.root(m), Some(first_root));
                assert!(
                    alg.verify_consistency(m as u64, size, &first_root, &root, &proof),
                    "{alg:?} {m} → {n}"
                );
                if m > 0 && m < n {
                    assert!(!alg.verify_consistency(m as u64, size, &root, &first_root, &proof));
                    assert!(!alg.verify_consistency(
                        m as u64 + 1,
                        size,
                        &first_root,
                        &root,
                        &proof
                    ));
                    for k in 0..proof.len() {
                        let mut bad = proof.clone();
                        bad[k][0] ^= 16;
                        assert!(!alg.verify_consistency(m as u64, size, &first_root, &root, &bad));
                    }
                    assert!(!alg.verify_consistency(
                        m as u64,
                        size,
                        &first_root,
                        &root,
                        &proof[..proof.len() - 1]
                    ));
                }
            }
        }
    }
}

#[test]
fn sm3_and_sha256_trees_differ_and_sm3_hashes_are_gb_t_32905() {
    // GB/T 32905-2016 appendix A.1: SM3("abc").
    let abc = HashAlg::Sm3.digest(&[b"abc"]);
    assert_eq!(
        hex::encode(abc),
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    );
    let leaves = reference_leaves();
    assert_ne!(HashAlg::Sm3.root(&leaves), HashAlg::Sha256.root(&leaves));
    assert_eq!(HashAlg::parse("SM3"), Some(HashAlg::Sm3));
    assert_eq!(HashAlg::parse("md5"), None);
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

#[test]
fn sm2_checkpoints_verify_only_unaltered_and_with_their_key() {
    let root = HashAlg::Sm3.root(&reference_leaves());
    let sm2 = SigningKey::derive(SigAlg::Sm2, &[7u8; 32]);
    let c = Checkpoint::sign(
        &sm2,
        "gongshu.example",
        8,
        &root,
        1_800_000_000,
        HashAlg::Sm3,
    );
    assert_eq!(c.sig, SigAlg::Sm2);
    assert!(c.body().ends_with("hash sm3\nsig sm2\n"), "{}", c.body());
    let public = sm2.verifying_key();
    assert_eq!(public.to_bytes().len(), 65);
    // The published key reads back as the same key.
    let read = VerifyingKey::from_bytes(&public.to_bytes()).unwrap();
    assert_eq!(read, public);
    assert_eq!(c.verify(&read), Ok(()));
    // The same seed always gives the same key (it is derived, never stored).
    assert_eq!(
        SigningKey::derive(SigAlg::Sm2, &[7u8; 32]).verifying_key(),
        public
    );
    let mut altered = c.clone();
    altered.size = 9;
    assert_eq!(altered.verify(&public), Err(CheckpointError::BadSignature));
    // Claiming Ed25519 for an SM2 signature, or verifying with an Ed25519 key, fails.
    let mut relabelled = c.clone();
    relabelled.sig = SigAlg::Ed25519;
    assert!(relabelled.verify(&public).is_err());
    assert!(c.verify(&key().verifying_key()).is_err());
    assert_eq!(
        VerifyingKey::from_bytes(&[1u8; 40]),
        Err(CheckpointError::BadKey)
    );
    // A checkpoint stored before SM2 existed reads as Ed25519.
    let old = Checkpoint::sign(&key(), "o", 1, &root, 1, HashAlg::Sha256);
    let mut json: serde_json::Value = serde_json::to_value(&old).unwrap();
    json.as_object_mut().unwrap().remove("sig");
    let read: Checkpoint = serde_json::from_value(json).unwrap();
    assert_eq!(read.verify(&key().verifying_key()), Ok(()));
}

#[test]
fn checkpoints_verify_only_unaltered_and_with_their_key() {
    let root = HashAlg::Sha256.root(&reference_leaves());
    let c = Checkpoint::sign(
        &key(),
        "gongshu.example",
        8,
        &root,
        1_800_000_000,
        HashAlg::Sha256,
    );
    assert!(c.body().starts_with("gongshu.example\n8\nXcnaeacGWa"));
    assert_eq!(c.verify(&key().verifying_key()), Ok(()));
    let other = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
    assert!(matches!(
        c.verify(&other),
        Err(CheckpointError::OtherKey { .. })
    ));
    for change in [
        |c: &mut Checkpoint| c.size = 9,
        |c: &mut Checkpoint| c.time += 1,
        |c: &mut Checkpoint| c.origin.push('x'),
        |c: &mut Checkpoint| c.hash = HashAlg::Sm3,
        |c: &mut Checkpoint| c.root = hex::encode([0u8; 32]),
    ] {
        let mut altered = c.clone();
        change(&mut altered);
        assert_eq!(
            altered.verify(&key().verifying_key()),
            Err(CheckpointError::BadSignature),
            "{altered:?}"
        );
    }
}

fn entry(i: u64) -> String {
    Entry {
        action: "data.download".into(),
        actor: Some(i as i64),
        object: format!("resource:{i:04}"),
        outcome: "ok".into(),
        status: Some(200),
        time: format!("2026-11-23T10:00:{:02}.000Z", i % 60),
        ..Entry::default()
    }
    .canonical()
}

/// A log of 20 entries with checkpoints at 5, 10 and 20.
fn signed_log() -> (Vec<(u64, Vec<u8>)>, Vec<Checkpoint>) {
    let alg = HashAlg::Sha256;
    let entries: Vec<(u64, Vec<u8>)> = (1..=20).map(|i| (i, entry(i).into_bytes())).collect();
    let mut range = CompactRange::default();
    let mut checkpoints = Vec::new();
    for (seq, bytes) in &entries {
        range.push(alg, alg.leaf(bytes));
        if [5, 10, 20].contains(seq) {
            checkpoints.push(Checkpoint::sign(
                &key(),
                "test",
                range.size,
                &range.root(alg),
                1_800_000_000 + *seq as i64,
                alg,
            ));
        }
    }
    (entries, checkpoints)
}

#[test]
fn entries_are_canonical_json() {
    let e = entry(3);
    assert_eq!(
        e,
        r#"{"action":"data.download","actor":3,"client":null,"dataset":null,"grant":null,"object":"resource:0003","org":null,"outcome":"ok","request":null,"role":null,"status":200,"time":"2026-11-23T10:00:03.000Z"}"#
    );
    let parsed: Entry = serde_json::from_str(&e).unwrap();
    assert_eq!(parsed.canonical(), e);
}

#[test]
fn a_whole_log_verifies_and_every_tampering_is_caught() {
    let pk = key().verifying_key();
    let (entries, checkpoints) = signed_log();
    assert_eq!(
        verify_log(entries.clone(), &checkpoints, &pk),
        Ok(Verified {
            entries: 20,
            checkpoints: 3,
            unsigned_tail: 0
        })
    );

    // One byte flipped in entry 7 (a digit of its object id).
    let mut flipped = entries.clone();
    let at = flipped[6].1.iter().position(|b| *b == b'7').unwrap();
    flipped[6].1[at] = b'8';
    let problems = verify_log(flipped, &checkpoints, &pk).unwrap_err();
    assert!(
        problems.contains(&LogProblem::RootMismatch { size: 10 }),
        "{problems:?}"
    );
    assert!(
        !problems.contains(&LogProblem::RootMismatch { size: 5 }),
        "{problems:?}"
    );

    // Entry 3 deleted.
    let mut deleted = entries.clone();
    deleted.remove(2);
    let problems = verify_log(deleted.clone(), &checkpoints, &pk).unwrap_err();
    assert!(
        problems.contains(&LogProblem::Gap {
            expected: 3,
            found: 4
        }),
        "{problems:?}"
    );
    // … and the rest renumbered to hide the gap.
    for (i, e) in deleted.iter_mut().enumerate() {
        e.0 = i as u64 + 1;
    }
    let problems = verify_log(deleted, &checkpoints, &pk).unwrap_err();
    assert!(
        problems.contains(&LogProblem::RootMismatch { size: 5 }),
        "{problems:?}"
    );
    assert!(
        problems.contains(&LogProblem::Truncated {
            signed: 20,
            held: 19
        }),
        "{problems:?}"
    );

    // Entries 12 and 13 swapped, numbers kept.
    let mut swapped = entries.clone();
    let (a, b) = (swapped[11].1.clone(), swapped[12].1.clone());
    swapped[11].1 = b;
    swapped[12].1 = a;
    let problems = verify_log(swapped, &checkpoints, &pk).unwrap_err();
    assert_eq!(problems, vec![LogProblem::RootMismatch { size: 20 }]);

    // The last three entries cut off.
    let problems = verify_log(entries[..17].to_vec(), &checkpoints, &pk).unwrap_err();
    assert_eq!(
        problems,
        vec![LogProblem::Truncated {
            signed: 20,
            held: 17
        }]
    );

    // A checkpoint re-signed by another key, or rewritten.
    let mut forged = checkpoints.clone();
    forged[1] = Checkpoint::sign(
        &SigningKey::from_bytes(&[9u8; 32]),
        "test",
        10,
        &[0u8; 32],
        0,
        HashAlg::Sha256,
    );
    let problems = verify_log(entries.clone(), &forged, &pk).unwrap_err();
    assert!(
        matches!(problems[0], LogProblem::BadCheckpoint { size: 10, .. }),
        "{problems:?}"
    );

    // Not an entry at all.
    let mut junk = entries.clone();
    junk[0].1 = b"{\"action\":1}".to_vec();
    let problems = verify_log(junk, &checkpoints, &pk).unwrap_err();
    assert!(
        matches!(problems[0], LogProblem::Malformed { seq: 1, .. }),
        "{problems:?}"
    );

    // Entries after the last checkpoint are counted as not yet signed.
    let mut longer = entries;
    longer.push((21, entry(21).into_bytes()));
    assert_eq!(
        verify_log(longer, &checkpoints, &pk).unwrap().unsigned_tail,
        1
    );
}

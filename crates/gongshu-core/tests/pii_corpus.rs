//! Measures the personal-information recognisers on labelled corpora and holds them to
//! behavioural floors: overall precision ≥ 0.98 and recall ≥ 0.95. Run with
//! `cargo test -p gongshu-core --test pii_corpus -- --nocapture` to see the tables.
//!
//! Each corpus line is `value<TAB>expected`, the expected kind by its wire name or
//! `none`; `#` starts a comment. Values are tried on their own, with no header, so a
//! value that fails its check digit is labelled `none` there.
#![allow(
    clippy::print_stdout,
    reason = "the precision and recall tables are this test's report"
)]

use std::collections::BTreeMap;

use gongshu_core::pii::{PiiKind, recognise_header, recognise_value};

const MIN_PRECISION: f64 = 0.98;
const MIN_RECALL: f64 = 0.95;

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    examples: usize,
    tp: usize,
    fp: usize,
    fn_: usize,
}

#[derive(Debug)]
struct Miss {
    line: usize,
    value: String,
    expected: Option<PiiKind>,
    got: Option<PiiKind>,
}

#[derive(Debug)]
struct Report {
    per_kind: BTreeMap<PiiKind, Tally>,
    negatives: usize,
    misses: Vec<Miss>,
}

fn parse(corpus: &str) -> Vec<(usize, &str, Option<PiiKind>)> {
    corpus
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| {
            let (value, label) = l
                .rsplit_once('\t')
                .unwrap_or_else(|| panic!("line {}: no tab in {l:?}", i + 1));
            let expected = match label.trim() {
                "none" => None,
                k => Some(
                    PiiKind::parse(k)
                        .unwrap_or_else(|| panic!("line {}: unknown kind {k:?}", i + 1)),
                ),
            };
            (i + 1, value, expected)
        })
        .collect()
}

fn evaluate(corpus: &str, recognise: fn(&str) -> Option<PiiKind>) -> Report {
    let mut per_kind: BTreeMap<PiiKind, Tally> = BTreeMap::new();
    let mut negatives = 0;
    let mut misses = Vec::new();
    for (line, value, expected) in parse(corpus) {
        let got = recognise(value);
        match expected {
            Some(k) => per_kind.entry(k).or_default().examples += 1,
            None => negatives += 1,
        }
        if got == expected {
            if let Some(k) = expected {
                per_kind.entry(k).or_default().tp += 1;
            }
            continue;
        }
        if let Some(k) = got {
            per_kind.entry(k).or_default().fp += 1;
        }
        if let Some(k) = expected {
            per_kind.entry(k).or_default().fn_ += 1;
        }
        misses.push(Miss {
            line,
            value: value.to_owned(),
            expected,
            got,
        });
    }
    Report {
        per_kind,
        negatives,
        misses,
    }
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        1.0
    } else {
        num as f64 / den as f64
    }
}

fn name(kind: Option<PiiKind>) -> &'static str {
    kind.map_or("none", PiiKind::as_str)
}

impl Report {
    fn total(&self) -> Tally {
        self.per_kind.values().fold(Tally::default(), |a, t| Tally {
            examples: a.examples + t.examples,
            tp: a.tp + t.tp,
            fp: a.fp + t.fp,
            fn_: a.fn_ + t.fn_,
        })
    }

    fn print(&self, title: &str) {
        println!("\n### {title}\n");
        println!("| kind | examples | precision | recall | FP | FN |");
        println!("|---|---:|---:|---:|---:|---:|");
        for (kind, t) in &self.per_kind {
            println!(
                "| {} | {} | {:.3} | {:.3} | {} | {} |",
                kind.as_str(),
                t.examples,
                ratio(t.tp, t.tp + t.fp),
                ratio(t.tp, t.tp + t.fn_),
                t.fp,
                t.fn_
            );
        }
        let all = self.total();
        println!("| none (negatives) | {} | | | | |", self.negatives);
        println!(
            "| **all** | {} | **{:.3}** | **{:.3}** | {} | {} |",
            all.examples + self.negatives,
            ratio(all.tp, all.tp + all.fp),
            ratio(all.tp, all.tp + all.fn_),
            all.fp,
            all.fn_
        );
        if !self.misses.is_empty() {
            println!("\nMisclassified:\n");
            for m in &self.misses {
                println!(
                    "- line {}: `{}` expected {}, got {}",
                    m.line,
                    m.value,
                    name(m.expected),
                    name(m.got)
                );
            }
        }
    }

    fn assert_floors(&self) {
        let all = self.total();
        let precision = ratio(all.tp, all.tp + all.fp);
        let recall = ratio(all.tp, all.tp + all.fn_);
        assert!(
            precision >= MIN_PRECISION,
            "precision {precision:.3} < {MIN_PRECISION}"
        );
        assert!(recall >= MIN_RECALL, "recall {recall:.3} < {MIN_RECALL}");
    }
}

#[test]
fn value_recognisers_on_the_labelled_corpus() {
    let corpus = include_str!("pii_corpus.tsv");
    let report = evaluate(corpus, recognise_value);
    report.print("Values (pii_corpus.tsv)");
    assert!(
        parse(corpus).len() >= 300,
        "the value corpus must keep at least 300 examples"
    );
    // Every value kind is represented, so a recogniser cannot silently fall out.
    for kind in PiiKind::ALL.iter().filter(|k| !k.is_header_only()) {
        assert!(
            report.per_kind.get(kind).is_some_and(|t| t.examples >= 10),
            "{kind}: too few examples"
        );
    }
    report.assert_floors();
}

#[test]
fn header_recogniser_on_the_labelled_corpus() {
    let corpus = include_str!("pii_headers.tsv");
    let report = evaluate(corpus, recognise_header);
    report.print("Headers (pii_headers.tsv)");
    assert!(
        parse(corpus).len() >= 80,
        "the header corpus must keep at least 80 examples"
    );
    for kind in PiiKind::ALL {
        assert!(
            report.per_kind.get(kind).is_some_and(|t| t.examples >= 2),
            "{kind}: too few headers"
        );
    }
    report.assert_floors();
}

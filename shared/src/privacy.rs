//! Identifying data in the few texts that reach the server in clear: the titles of
//! working groups and practice-analysis sessions, and a case's short note (CHARTER.md
//! C7–C9). Everything else a person types is end-to-end encrypted; these texts are read
//! by the server, its operators and its backups, so a name, a phone number, an e-mail
//! address or a birth date in them is refused.
//!
//! The check must not stop ordinary work: it looks only for what identifies a person with
//! little doubt — a civility or « le jeune », « la petite »… before a capitalised name, a
//! first name before a surname in capitals (not an acronym of the field), a French phone
//! number, an e-mail address, a date or year of birth. The web client's reminder before a
//! practice-analysis message (web-client/js/privacy.js) looks for more (ages, dates,
//! addresses, schools), since there the person confirms or rewrites. Both are held to the
//! same hand-labelled sentences, `shared/privacy/sentences.json`.

use std::sync::LazyLock;

use regex::Regex;

/// What kind of identifying data was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A person's name.
    Name,
    /// A phone number.
    Phone,
    /// An e-mail address.
    Email,
    /// A date or year of birth.
    Birth,
}

impl Kind {
    /// The stable name, as the access log and the shared sentences write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Name => "name",
            Kind::Phone => "phone",
            Kind::Email => "email",
            Kind::Birth => "birth",
        }
    }

    /// French, for an error message: « un nom de personne ».
    pub fn label(self) -> &'static str {
        match self {
            Kind::Name => "un nom de personne",
            Kind::Phone => "un numéro de téléphone",
            Kind::Email => "une adresse e-mail",
            Kind::Birth => "une date de naissance",
        }
    }
}

/// Acronyms of the field that follow a capitalised word in ordinary titles (« Réunion
/// CLSPD », « Suivi ASE ») and are not surnames.
const ACRONYMS: &[&str] = &[
    "ACTE", "AED", "AEMO", "ASE", "CADA", "CAF", "CCAS", "CD", "CDAD", "CESF", "CHRS", "CIO",
    "CISPD", "CLS", "CLSPD", "CMP", "CMPP", "CPE", "CRIP", "CSI", "DDSP", "EPCI", "ESJ", "MDPH",
    "MJIE", "MNA", "ODPE", "PJJ", "PMI", "PRE", "QPV", "REP", "SEGPA", "SIAO", "SPIP", "TGD",
    "UDAF", "ULIS", "VIF",
];

/// A capitalised word: a first name, a surname written normally.
const NAME_WORD: &str = r"\p{Lu}[\p{Ll}'’-]+";

struct Pattern {
    kind: Kind,
    regex: Regex,
    /// For the first-name-and-surname pattern: the capture holding the capitals, which
    /// must not be an acronym of [`ACRONYMS`].
    capitals_group: Option<usize>,
}

fn pattern(kind: Kind, source: &str, capitals_group: Option<usize>) -> Option<Pattern> {
    // The sources are constants of this file, covered by its tests: a failure here is a
    // programming error, and the pattern is then skipped rather than panicking in a server.
    Regex::new(source).ok().map(|regex| Pattern {
        kind,
        regex,
        capitals_group,
    })
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let date = r"(?:0?[1-9]|[12]\d|3[01])[/.-](?:0?[1-9]|1[0-2])[/.-](?:19|20)?\d{2}";
    [
        pattern(
            Kind::Name,
            &format!(
                r"(?:\bM\.|\b(?i:mr|mme|mlle|monsieur|madame|mademoiselle|dr|docteur)\b\.?)\s+{NAME_WORD}"
            ),
            None,
        ),
        pattern(
            Kind::Name,
            &format!(
                r"\b(?i:(?:le|la)\s+(?:jeune|petite?|mineure?)|l['’](?:enfant|adolescente?))\s+{NAME_WORD}"
            ),
            None,
        ),
        pattern(
            Kind::Name,
            &format!(r"\b{NAME_WORD}\s+(\p{{Lu}}{{2,}}(?:-\p{{Lu}}{{2,}})*)\b"),
            Some(1),
        ),
        pattern(
            Kind::Phone,
            r"(?:\+33\s?|\b0033\s?|\b0)[1-9](?:[\s.-]?\d{2}){4}\b",
            None,
        ),
        pattern(
            Kind::Email,
            r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
            None,
        ),
        pattern(
            Kind::Birth,
            &format!(
                r"\b(?i:née?|naissance)\s*:?\s+(?i:le\s+|en\s+|du\s+)?(?:{date}|\d{{1,2}}(?:er)?\s+\p{{L}}+\s+\d{{4}}|\d{{4}})"
            ),
            None,
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
});

/// The kinds of identifying data in `text`, each once, in a stable order.
pub fn identifying_data(text: &str) -> Vec<Kind> {
    let mut kinds: Vec<Kind> = PATTERNS
        .iter()
        .filter(|pattern| {
            pattern.regex.captures_iter(text).any(|found| {
                pattern.capitals_group.is_none_or(|group| {
                    found
                        .get(group)
                        .is_some_and(|capitals| !ACRONYMS.contains(&capitals.as_str()))
                })
            })
        })
        .map(|pattern| pattern.kind)
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// A French sentence naming what was found, for the refusal: « Ce texte semble contenir un
/// nom de personne et un numéro de téléphone ».
pub fn describe(kinds: &[Kind]) -> String {
    let labels: Vec<&str> = kinds.iter().map(|kind| kind.label()).collect();
    let list = match labels.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} et {last}", rest.join(", ")),
    };
    format!("Ce texte semble contenir {list}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Sentence {
        text: String,
        identifying: bool,
        server: Vec<String>,
    }

    #[derive(Deserialize)]
    struct Sentences {
        sentences: Vec<Sentence>,
    }

    fn sentences() -> Vec<Sentence> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/privacy/sentences.json");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        serde_json::from_str::<Sentences>(&text)
            .map(|all| all.sentences)
            .unwrap_or_default()
    }

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(PATTERNS.len(), 6);
    }

    #[test]
    fn the_labelled_sentences_give_exactly_their_findings() {
        let sentences = sentences();
        assert!(sentences.len() >= 50, "the corpus has {}", sentences.len());
        for sentence in &sentences {
            let found: Vec<&str> = identifying_data(&sentence.text)
                .into_iter()
                .map(Kind::as_str)
                .collect();
            let mut expected: Vec<&str> = sentence.server.iter().map(String::as_str).collect();
            expected.sort_by_key(|name| {
                [Kind::Name, Kind::Phone, Kind::Email, Kind::Birth]
                    .iter()
                    .position(|kind| kind.as_str() == *name)
            });
            assert_eq!(found, expected, "{:?}", sentence.text);
        }
    }

    #[test]
    fn no_sentence_without_identifying_data_is_refused() {
        let refused: Vec<String> = sentences()
            .into_iter()
            .filter(|sentence| {
                !sentence.identifying && !identifying_data(&sentence.text).is_empty()
            })
            .map(|sentence| sentence.text)
            .collect();
        assert_eq!(refused, Vec::<String>::new());
    }

    #[test]
    fn the_refusal_names_what_was_found() {
        assert_eq!(
            describe(&[Kind::Name, Kind::Phone]),
            "Ce texte semble contenir un nom de personne et un numéro de téléphone"
        );
        assert_eq!(
            describe(&identifying_data(
                "Analyse : le cas de Kevin MARTIN, 06 12 34 56 78"
            )),
            "Ce texte semble contenir un nom de personne et un numéro de téléphone"
        );
    }
}

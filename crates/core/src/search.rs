//! Typo-tolerant doctor search over names and specialties.
//!
//! A query matches a doctor when every word of the query matches some word of the doctor's
//! name or specialty: exactly, as a prefix (search as you type), or within one edit
//! (insertion, deletion, substitution or transposition; two edits for words of 8+ letters).
//! Accents and case are ignored. Better matches rank first, then names alphabetically.

/// Lower-cases, folds common accents and splits into words.
pub fn words(text: &str) -> Vec<String> {
    let mut folded = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'à' | 'á' | 'â' | 'ã' | 'å' | 'ā' => folded.push('a'),
            'ä' | 'æ' => folded.push('a'),
            'ç' | 'č' | 'ć' => folded.push('c'),
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' => folded.push('e'),
            'ì' | 'í' | 'î' | 'ï' => folded.push('i'),
            'ñ' | 'ń' => folded.push('n'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => folded.push('o'),
            'ù' | 'ú' | 'û' | 'ü' => folded.push('u'),
            'ý' | 'ÿ' => folded.push('y'),
            'ß' => folded.push_str("ss"),
            'ł' => folded.push('l'),
            'š' | 'ś' => folded.push('s'),
            'ž' | 'ź' | 'ż' => folded.push('z'),
            c if c.is_alphanumeric() => folded.push(c),
            _ => folded.push(' '),
        }
    }
    folded.split_whitespace().map(str::to_owned).collect()
}

/// How well `query` matches a document made of `document_words`; `None` if it does not.
pub fn score(query_words: &[String], document_words: &[String]) -> Option<u32> {
    let mut total = 0;
    for query_word in query_words {
        total += document_words
            .iter()
            .filter_map(|word| word_score(query_word, word))
            .max()?;
    }
    Some(total)
}

fn word_score(query: &str, word: &str) -> Option<u32> {
    if query == word {
        return Some(4);
    }
    let query_len = query.chars().count();
    if word.starts_with(query) {
        return Some(3);
    }
    let allowed = match query_len {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    };
    if allowed == 0 {
        return None;
    }
    if strsim::damerau_levenshtein(query, word) <= allowed {
        return Some(2);
    }
    // Typing in progress with a typo: compare with the word's prefix of similar length.
    let prefix: String = word.chars().take(query_len).collect();
    (strsim::damerau_levenshtein(query, &prefix) <= allowed).then_some(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(query: &str, document: &str) -> bool {
        score(&words(query), &words(document)).is_some()
    }

    #[test]
    fn exact_prefix_and_one_typo_match() {
        assert!(matches("smith", "Dr. Anna Smith Cardiology"));
        assert!(matches("card", "Dr. Anna Smith Cardiology"));
        assert!(matches("smiht", "Dr. Anna Smith Cardiology"));
        assert!(matches("cardiolgy", "Dr. Anna Smith Cardiology"));
        assert!(matches("kardiology", "Dr. Anna Smith Cardiology"));
        assert!(matches("dermatolo", "Dermatology"));
    }

    #[test]
    fn accents_and_case_are_ignored() {
        assert!(matches("muller", "Dr. Jörg Müller"));
        assert!(matches("JÖRG", "Dr. Jorg Muller"));
    }

    #[test]
    fn every_query_word_must_match() {
        assert!(matches("anna cardio", "Dr. Anna Smith Cardiology"));
        assert!(!matches("anna neuro", "Dr. Anna Smith Cardiology"));
        assert!(!matches("xyzzy", "Dr. Anna Smith Cardiology"));
    }

    #[test]
    fn exact_matches_rank_above_typos() {
        let query = words("smith");
        let exact = score(&query, &words("Dr. Smith")).unwrap();
        let typo = score(&query, &words("Dr. Smyth")).unwrap();
        assert!(exact > typo);
    }
}

//! Quoting untrusted text (claims of an unverified JWT, discovery answers) into what doctor
//! prints for pasting: shell words, YAML and HCL strings. JSON is built with miniserde.
//! Whatever the text holds (quotes, `$`, backticks, newlines), it stays one literal value.

/// One shell word: `'…'` (POSIX), or `$'…'` with escapes when the text holds control
/// characters (bash, zsh, ksh, and POSIX.1-2024 sh), so a newline cannot end the command.
pub fn sh(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+%".contains(&b))
    {
        return s.to_string();
    }
    if !s.chars().any(char::is_control) {
        return format!("'{}'", s.replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    for c in s.chars() {
        match c {
            '\'' => out.push_str(r"\'"),
            '\\' => out.push_str(r"\\"),
            '\n' => out.push_str(r"\n"),
            '\t' => out.push_str(r"\t"),
            '\r' => out.push_str(r"\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A double-quoted YAML scalar (YAML 1.1 and 1.2): `"`, `\` and every non-printable character
/// escaped.
pub fn yaml(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An HCL (Terraform) string: escapes plus `${`/`%{` doubled so no template runs.
pub fn hcl(s: &str) -> String {
    let mut out = String::from("\"");
    let mut prev = '\0';
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '{' if prev == '$' || prev == '%' => {
                out.push(prev);
                out.push('{');
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
        prev = c;
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_stay_one_word() {
        assert_eq!(sh("system:serviceaccount:a:b"), "system:serviceaccount:a:b");
        assert_eq!(sh("it's $(id) `x`"), r"'it'\''s $(id) `x`'");
        assert_eq!(sh("a\nb'"), r"$'a\nb\''");
        assert_eq!(sh(""), "''");
    }

    #[test]
    fn hcl_and_yaml_escape_templates_and_controls() {
        assert_eq!(hcl("a${b}%{c}\"\n"), r#""a$${b}%%{c}\"\n""#);
        assert_eq!(yaml("a\"\u{7f}\n"), r#""a\"\u007f\n""#);
    }
}

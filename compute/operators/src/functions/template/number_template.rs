//! Numeric format templates: `9` (a digit, blank when a leading zero), `0` (a
//! digit, zero kept), `.` or `D` (the decimal point), `,` or `G` (a group
//! separator), `S` (the sign, at either end), `MI` (a minus, blank when
//! positive), `PL` / `SG`, `PR` (negative in angle brackets), `L` (the currency
//! symbol, `$`), `RN` (Roman numerals), `FM` (no padding); other characters are
//! copied.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Item {
    Nine,
    Zero,
    Point,
    Group,
    Sign,
    Minus,
    Plus,
    PlusMinus,
    Brackets,
    Currency,
    Char(char),
}

struct Template {
    items: Vec<Item>,
    fill: bool,
}

fn parse(template: &str) -> Template {
    let chars: Vec<char> = template.chars().collect();
    let mut items = Vec::new();
    let mut fill = false;
    let mut i = 0;
    let at = |i: usize, p: &str| {
        chars.len() >= i + p.len()
            && chars[i..i + p.len()]
                .iter()
                .zip(p.chars())
                .all(|(a, b)| a.eq_ignore_ascii_case(&b))
    };
    while i < chars.len() {
        let (item, n) = if at(i, "FM") {
            fill = true;
            i += 2;
            continue;
        } else if at(i, "MI") {
            (Item::Minus, 2)
        } else if at(i, "PL") {
            (Item::Plus, 2)
        } else if at(i, "SG") {
            (Item::PlusMinus, 2)
        } else if at(i, "PR") {
            (Item::Brackets, 2)
        } else {
            (
                match chars[i] {
                    '9' => Item::Nine,
                    '0' => Item::Zero,
                    '.' | 'D' | 'd' => Item::Point,
                    ',' | 'G' | 'g' => Item::Group,
                    'S' | 's' => Item::Sign,
                    'L' | 'l' => Item::Currency,
                    c => Item::Char(c),
                },
                1,
            )
        };
        items.push(item);
        i += n;
    }
    Template { items, fill }
}

/// Rounds the decimal digits `int`.`frac` to `places` fraction digits (half away
/// from zero).
fn round(int: &str, frac: &str, places: usize) -> (String, String) {
    let mut digits: Vec<u8> = int
        .bytes()
        .chain(frac.bytes().chain(std::iter::repeat(b'0')).take(places))
        .map(|b| b - b'0')
        .collect();
    if frac.as_bytes().get(places).is_some_and(|d| *d >= b'5') {
        let mut k = digits.len();
        loop {
            if k == 0 {
                digits.insert(0, 1);
                break;
            }
            k -= 1;
            if digits[k] == 9 {
                digits[k] = 0;
            } else {
                digits[k] += 1;
                break;
            }
        }
    }
    let text: String = digits.iter().map(|d| (d + b'0') as char).collect();
    let split = text.len() - places;
    let int = text[..split].trim_start_matches('0').to_string();
    (int, text[split..].to_string())
}

/// The sign before a number's first digit when the template places none: `-`, or a
/// blank for a positive number (nothing with FM).
fn leading_sign(negative: bool, fill: bool) -> &'static str {
    match (negative, fill) {
        (true, _) => "-",
        (false, false) => " ",
        (false, true) => "",
    }
}

/// The number `-`?`int`.`frac` in `template`'s form.
pub(super) fn format(template: &str, negative: bool, int: &str, frac: &str) -> String {
    if let Some(roman) = roman_format(template, negative, int, frac) {
        return roman;
    }
    let t = parse(template);
    let brackets = t.items.contains(&Item::Brackets);
    let point = t.items.iter().position(|i| *i == Item::Point);
    let is_digit = |i: &Item| matches!(i, Item::Nine | Item::Zero);
    let int_slots = t.items[..point.unwrap_or(t.items.len())]
        .iter()
        .filter(|i| is_digit(i))
        .count();
    let frac_slots = match point {
        Some(p) => t.items[p..].iter().filter(|i| is_digit(i)).count(),
        None => 0,
    };
    let (int, frac) = round(int, frac, frac_slots);
    let negative = negative && (int.bytes().chain(frac.bytes()).any(|d| d != b'0'));
    let overflow = int.len() > int_slots;
    let explicit_sign = t.items.iter().any(|i| {
        matches!(
            i,
            Item::Sign | Item::Minus | Item::Plus | Item::PlusMinus | Item::Brackets
        )
    });
    // Where zero-padding starts: the first `0` among the integer slots.
    let first_zero = t.items[..point.unwrap_or(t.items.len())]
        .iter()
        .filter(|i| is_digit(i))
        .position(|i| *i == Item::Zero)
        .unwrap_or(int_slots);
    let int_digits: Vec<char> = int.chars().collect();
    let mut out = String::new();
    let mut slot = 0; // integer digit slots seen
    let mut frac_seen = 0;
    let mut started = false;
    let mut after_point = false;
    for item in &t.items {
        match item {
            Item::Nine | Item::Zero if !after_point => {
                let lead = int_slots - int_digits.len().min(int_slots);
                let c = if overflow {
                    Some('#')
                } else if slot >= lead {
                    Some(int_digits[slot - lead])
                } else if slot >= first_zero {
                    Some('0')
                } else {
                    None
                };
                match c {
                    Some(c) => {
                        if !started {
                            out.push_str(opening(negative, t.fill, brackets, explicit_sign));
                        }
                        started = true;
                        out.push(c);
                    }
                    None if !t.fill => out.push(' '),
                    None => {}
                }
                slot += 1;
            }
            Item::Nine | Item::Zero => {
                let c = if overflow {
                    '#'
                } else {
                    frac.as_bytes()[frac_seen] as char
                };
                out.push(c);
                frac_seen += 1;
            }
            Item::Point => {
                if !started {
                    out.push_str(opening(negative, t.fill, brackets, explicit_sign));
                    started = true;
                }
                after_point = true;
                out.push('.');
            }
            Item::Group => {
                if started {
                    out.push(',');
                } else if !t.fill {
                    out.push(' ');
                }
            }
            Item::Sign => out.push(if negative { '-' } else { '+' }),
            Item::Minus => out.push_str(if negative {
                "-"
            } else if t.fill {
                ""
            } else {
                " "
            }),
            Item::Plus => out.push_str(if negative { "" } else { "+" }),
            Item::PlusMinus => out.push(if negative { '-' } else { '+' }),
            Item::Brackets => out.push_str(match (negative, t.fill) {
                (true, _) => ">",
                (false, false) => " ",
                (false, true) => "",
            }),
            Item::Currency => out.push('$'),
            Item::Char(c) => out.push(*c),
        }
    }
    if !started && !explicit_sign && int_slots == 0 && frac_slots == 0 && negative {
        out.insert(0, '-');
    }
    if t.fill && point.is_some() {
        // FM drops the trailing zeros of the `9` fraction slots.
        let nines_after = t.items[point.unwrap_or(0)..]
            .iter()
            .rev()
            .take_while(|i| **i == Item::Nine)
            .count();
        let mut trimmed = 0;
        while trimmed < nines_after && out.ends_with('0') {
            out.pop();
            trimmed += 1;
        }
    }
    out
}

/// What goes before a number's first digit: `PR`'s `<` (or a blank), the sign
/// when the template places none, or nothing.
fn opening(negative: bool, fill: bool, brackets: bool, explicit_sign: bool) -> &'static str {
    if brackets {
        match (negative, fill) {
            (true, _) => "<",
            (false, false) => " ",
            (false, true) => "",
        }
    } else if explicit_sign {
        ""
    } else {
        leading_sign(negative, fill)
    }
}

/// `n` in Roman numerals (1 to 3999), as `RN` writes it.
fn roman(mut n: u32) -> String {
    const NUMERALS: [(u32, &str); 13] = [
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ];
    let mut out = String::new();
    for (value, numeral) in NUMERALS {
        while n >= value {
            out.push_str(numeral);
            n -= value;
        }
    }
    out
}

/// A template with `RN` (Roman numerals): the number rounded to an integer, in
/// upper or lower case as `RN` or `rn`, right-aligned in 15 characters unless FM;
/// `#`s outside 1 to 3999, as PostgreSQL.
fn roman_format(template: &str, negative: bool, int: &str, frac: &str) -> Option<String> {
    let at = template.find("RN").or_else(|| template.find("rn"))?;
    let fill = template.to_ascii_uppercase().contains("FM");
    let (int, _) = round(int, frac, 0);
    let n: u32 = if int.is_empty() {
        0
    } else {
        int.parse().unwrap_or(0)
    };
    let text = if negative || !(1..=3999).contains(&n) {
        "#".repeat(15)
    } else if &template[at..at + 2] == "rn" {
        roman(n).to_lowercase()
    } else {
        roman(n)
    };
    Some(if fill { text } else { format!("{text:>15}") })
}

/// The number of fraction digits `template` has.
pub(super) fn scale(template: &str) -> i8 {
    let t = parse(template);
    match t.items.iter().position(|i| *i == Item::Point) {
        Some(p) => t.items[p..]
            .iter()
            .filter(|i| matches!(i, Item::Nine | Item::Zero))
            .count()
            .min(38) as i8,
        None => 0,
    }
}

/// Reads `input` by `template` (TO_NUMBER): the digits, the decimal point and the
/// sign (`-`, a trailing `-`, or angle brackets) count; group separators, currency
/// and other characters are skipped. Gives the value and its scale (the
/// template's fraction digits).
pub(super) fn read(template: &str, input: &str) -> Result<(i128, i8), String> {
    let scale = scale(template) as usize;
    let trimmed = input.trim();
    let negative = trimmed.contains('-') || (trimmed.starts_with('<') && trimmed.ends_with('>'));
    let (int, frac) = match trimmed.split_once('.') {
        Some((a, b)) => (a, b),
        None => (trimmed, ""),
    };
    let int: String = int.chars().filter(|c| c.is_ascii_digit()).collect();
    let frac: String = frac.chars().filter(|c| c.is_ascii_digit()).collect();
    if int.is_empty() && frac.is_empty() {
        return Err("no digits to read".into());
    }
    let (int, frac) = round(if int.is_empty() { "0" } else { &int }, &frac, scale);
    let digits = format!("{int}{frac}");
    let value: i128 = if digits.is_empty() {
        0
    } else {
        digits
            .parse()
            .map_err(|_| format!("\"{input}\" has too many digits"))?
    };
    if digits.len() > 38 {
        return Err(format!("\"{input}\" has too many digits"));
    }
    Ok((if negative { -value } else { value }, scale as i8))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(template: &str, v: &str) -> String {
        let negative = v.starts_with('-');
        let v = v.trim_start_matches('-');
        let (int, frac) = v.split_once('.').unwrap_or((v, ""));
        format(template, negative, int, frac)
    }

    #[test]
    fn formats_as_postgresql() {
        assert_eq!(f("999D99", "125.8"), " 125.80");
        assert_eq!(f("999D99", "-125.8"), "-125.80");
        assert_eq!(f("FM999D99", "125.8"), "125.8");
        assert_eq!(f("9,999,999", "1234567"), " 1,234,567");
        assert_eq!(f("9,999", "12"), "    12");
        assert_eq!(f("0000", "12"), " 0012");
        assert_eq!(f("999", "12345"), " ###");
        assert_eq!(f("9D9", "0.15"), "  .2");
        assert_eq!(f("0D9", "0.15"), " 0.2");
        assert_eq!(f("999S", "-125"), "125-");
        assert_eq!(f("999MI", "125"), "125 ");
        assert_eq!(f("999PR", "-12"), " <12>");
        assert_eq!(f("$999D99PR", "-125.88"), "$<125.88>");
        assert_eq!(f("RN", "125"), "           CXXV");
        assert_eq!(f("FMrn", "1994"), "mcmxciv");
        assert_eq!(f("L999", "12"), "$  12");
        assert_eq!(f("99.99", "9.999"), " 10.00");
    }

    #[test]
    fn reads_numbers() {
        assert_eq!(read("99G999D9S", "12,454.8-").expect("valid"), (-124548, 1));
        assert_eq!(read("999", "  12 ").expect("valid"), (12, 0));
        assert_eq!(read("9999PR", "<123>").expect("valid"), (-123, 0));
        assert!(read("999", "abc").is_err());
    }
}

//! Postal addresses in the formats of North America, the UK and Ireland,
//! France, the German-speaking countries, the Netherlands, Spain, Italy and
//! Portugal: a street line (number and street type in the local order), a
//! post-office box, and the town and postcode parts that follow them.
//!
//! Street types are the USPS Publication 28 suffixes with the common UK
//! ones, and the local words for street, avenue, square and so on. In free
//! text a street line needs its house number; in a column named for
//! addresses a value with a number and a street word, a postcode, a box or
//! several parts is enough ([`looks_like_address`]).

use std::sync::OnceLock;

use regex::Regex;

/// English street types (USPS Publication 28, appendix C1, and UK usage).
const EN_TYPES: &str = "Alley|Aly|Annex|Arcade|Avenue|Ave|Av|Bayou|Beach|Bend|Bluffs?|Bottom|Boulevard|Blvd|Branch|Bridge|Brooks?|Burgs?|Bypass|Byp|Camp|Canyon|Cape|Causeway|Center|Centre|Circles?|Cir|Cliffs?|Close|Club|Common|Corners?|Course|Courts?|Ct|Coves?|Creek|Crescent|Cres|Crest|Crossing|Crossroad|Curve|Dale|Dam|Divide|Drives?|Dr|Estates?|Expressway|Expy|Extensions?|Falls?|Ferry|Fields?|Flats?|Fords?|Forest|Forges?|Forks?|Fort|Freeway|Fwy|Gardens?|Gateway|Glens?|Greens?|Groves?|Harbors?|Harbours?|Haven|Heights|Hts|Highway|Hwy|Hills?|Hollow|Inlet|Islands?|Isle|Junctions?|Keys?|Knolls?|Lakes?|Land|Landing|Lane|Ln|Lights?|Loaf|Locks?|Lodge|Loop|Mall|Manors?|Meadows?|Mews|Mills?|Mission|Motorway|Mount|Mountains?|Neck|Orchard|Oval|Overpass|Parade|Parks?|Parkways?|Pkwy|Pass|Passage|Path|Pike|Pines?|Place|Pl|Plains?|Plaza|Points?|Ports?|Prairie|Promenade|Radial|Ramp|Ranch|Rapids?|Rest|Ridges?|Rise|River|Roads?|Rd|Route|Row|Rue|Run|Shoals?|Shores?|Skyway|Springs?|Spurs?|Squares?|Sq|Station|Stravenue|Stream|Streets?|St|Summit|Terrace|Ter|Throughway|Trace|Track|Trafficway|Trail|Trl|Tunnel|Turnpike|Underpass|Unions?|Valleys?|Via|Viaduct|Views?|Villages?|Ville|Vista|Walks?|Wall|Way|Ways|Wells?|Wharf|Wynd|Yard";

/// A unit after a street line: `Apt. 547`, `Suite 690`, `Piso 3`.
const UNIT: &str = r"(?:,?\s+(?i:apt\.?|apartment|suite|ste\.?|unit|flat|floor|fl\.|piso|puerta|appartamento|app\.|interno|int\.|scala|wohnung|whg\.|étage|etage|bâtiment|bat\.|#)\s*[0-9][0-9A-Za-z\-º]*)?";

/// The postcode forms of the countries above, with the US state before a ZIP.
const POSTCODE: &str = r"(?:[A-Z]{2}\s+[0-9]{5}(?:-[0-9]{4})?|[0-9]{5}(?:-[0-9]{4})?|[A-Z]{1,2}[0-9][A-Z0-9]?\s*[0-9][A-Z]{2}|[0-9]{4}\s?[A-Z]{2}|[A-Z][0-9][A-Z]\s?[0-9][A-Z][0-9]|[0-9]{4})";

/// A town: capitalised words (with `-`, `'` and lower-case particles).
const TOWN: &str = r"(?:[A-ZÀ-ÖØ-Þ'][^\s,;:.()0-9]*(?:[ \-'](?:[A-Za-zÀ-ÖØ-öø-ÿ][^\s,;:.()0-9]*))?(?:[ \-'](?:[A-ZÀ-ÖØ-Þ(][^\s,;:.0-9]*)){0,3})";

struct Patterns {
    /// `7631 Johnson Village Suite 690`, `221B Baker Street`.
    english: Regex,
    /// `8, avenue Manon Gillet`, `12 rue de la Paix`.
    french: Regex,
    /// `Hauptstraße 12`, `Kreinstr. 35/46`, `Berliner Straße 5`, `Mirteweg 49`.
    germanic: Regex,
    /// `Calle Mayor 5`, `C. de Montserrat Parejo 50`, `Viale Parisi, 171`.
    romance: Regex,
    /// `PO Box 1234`, `Postfach 12 34`, `Postbus 43851`, `PSC 1234, Box 5678`.
    po_box: Regex,
    /// Any of the five above, to rule most texts out in one pass.
    any: Regex,
    /// The town and postcode parts after a street line or box.
    tail: Regex,
    /// A street word in any of the languages (for [`looks_like_address`]).
    street_word: Regex,
    /// A postcode with a town, in either order.
    postcode_town: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        // The patterns are built from literals checked by the tests; a
        // failure to compile would be a bug caught on the first test run.
        let re = |s: &str| Regex::new(s).unwrap_or_else(|e| panic!("built-in pattern {s}: {e}"));
        let fr_types = "rue|avenue|av\\.|boulevard|bd|chemin|place|impasse|allée|allee|quai|route|cours|square|passage|faubourg|rond-point|voie|sentier|esplanade|parvis|promenade|résidence|hameau|lieu-dit|cité|villa";
        let de_suffix = "straße|strasse|str\\.|weg|gasse|platz|allee|damm|ufer|chaussee|steig|pfad|graben|ring|markt|straat|laan|plein|gracht|singel|kade|dijk|steeg|dreef|pad|wal|baan|plantsoen|hof|boulevard|park|erf|veld";
        let de_words = "Straße|Strasse|Str\\.|Weg|Gasse|Platz|Allee|Damm|Ufer|Chaussee|Ring|Markt";
        let romance_types = "Calle|Cl\\.|C/|C\\.|Avenida|Cañada|Carretera|Ctra\\.|Acceso|Pasadizo|Pje\\.|Sector|Polígono|Vial|Avda\\.?|Av\\.|Plaza|Pza\\.|Paseo|Camino|Carrera|Ronda|Cuesta|Callejón|Callejon|Pasaje|Travesía|Travesia|Glorieta|Rambla|Urbanización|Vía|Via|Viale|V\\.le|Piazza|P\\.za|Piazzale|Corso|Largo|Vicolo|Contrada|Borgo|Strada|Rotonda|Incrocio|Canale|Stretto|Vico|Rua|Praça|Travessa|Alameda|Estrada";
        let english: String = format!(
                r"\b[0-9]{{1,6}}[A-Za-z]?,?\s+(?:[A-Z][A-Za-z'’\-]*\.?\s+){{1,4}}(?:{EN_TYPES})\b\.?{UNIT}"
            );
        let french: String = format!(
                r"\b[0-9]{{1,5}}(?:\s?(?:bis|ter|[A-Za-z]))?,?\s+(?i:{fr_types})\s+[^\n,;.()0-9]{{2,60}}|\b(?i:{fr_types})\s+[^\n,;.()0-9]{{2,60}}[,\n]\s*[0-9]{{5}}\s+{TOWN}"
            );
        let germanic: String = format!(
                r"(?:\b[A-ZÄÖÜ][a-zäöüß]+\s+(?:{de_words})|\b[A-ZÀ-ÖØ-Þ][A-Za-zÀ-ÖØ-öø-ÿ\-]*?(?i:{de_suffix}))\s+[0-9]{{1,5}}\s?[a-zA-Z]?(?:\s?[-/]\s?[0-9]{{1,5}}[a-zA-Z]?)?\b{UNIT}"
            );
        let romance: String = format!(
                r"\b(?:{romance_types})\s+(?:[A-Za-zÀ-ÖØ-öø-ÿ'’.\-]+\s+){{0,5}}?[A-Za-zÀ-ÖØ-öø-ÿ'’.\-]+,?\s+(?:n[º°o]\.?\s*)?[0-9]{{1,5}}\b(?:\s?[a-zA-Z]\b)?{UNIT}"
            );
        let po_box: String = r"\b(?:(?i:p\.?\s?o\.?\s?box|post\s+office\s+box|postfach|postbus|apartado(?:\s+de\s+correos)?|casella\s+postale|boîte\s+postale|private\s+bag|locked\s+bag|caixa\s+postal)|B\.P\.|BP|(?:PSC|Unit)\s+[0-9]{3,5},?\s+Box)\s*[0-9]{1,6}(?:\s[0-9]{2,4})?\b|\b(?:USNS|USS|USNV|USCGC)\s+[A-Z][a-z]+".to_string();
        let any = [&english, &french, &germanic, &romance, &po_box]
            .map(|s| format!("(?:{s})"))
            .join("|");
        Patterns {
            english: re(&english),
            french: re(&french),
            germanic: re(&germanic),
            romance: re(&romance),
            po_box: re(&po_box),
            any: re(&any),
            tail: re(&format!(
                r"^(?:\s*[,\n]\s*(?:{POSTCODE}(?:,?\s+{TOWN})?|{TOWN}(?:,?\s+{POSTCODE})?|(?:APO|FPO|DPO)\s+A[AEP]\s+[0-9]{{5}})){{1,3}}"
            )),
            street_word: re(&format!(
                r"(?i)\b(?:{EN_TYPES}|{fr_types}|{romance_types})\b|(?i:{de_suffix}|{de_words})(?:\s|[0-9]|$)|(?i)\b(?:flat|apt|apartment|suite|unit|studio)\b"
            )),
            postcode_town: re(&format!(
                r"(?:^|[\s,])(?:{POSTCODE}\s+{TOWN}|{TOWN},?\s+{POSTCODE})(?:$|[\s,)])"
            )),
        }
    })
}

/// Byte ranges of the addresses in `text`, possibly overlapping.
pub(crate) fn find_addresses(text: &str) -> Vec<(usize, usize)> {
    if !text.bytes().any(|b| b.is_ascii_digit()) {
        return Vec::new();
    }
    let p = patterns();
    if !p.any.is_match(text) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for re in [&p.english, &p.french, &p.germanic, &p.romance, &p.po_box] {
        for m in re.find_iter(text) {
            let end = m.start() + m.as_str().trim_end().len();
            let end = p.tail.find(&text[end..]).map_or(end, |t| end + t.end());
            out.push((m.start(), end));
        }
    }
    out
}

/// A value that is an address on its own: its street lines or boxes cover
/// at least half of it.
pub fn is_address(s: &str) -> bool {
    let spans = find_addresses(s);
    let covered: usize = spans
        .iter()
        .map(|(a, b)| s[*a..*b].chars().filter(|c| !c.is_whitespace()).count())
        .max()
        .unwrap_or(0);
    covered > 0 && covered * 2 >= s.chars().filter(|c| !c.is_whitespace()).count()
}

/// A value in a column named for addresses that looks like one in any
/// common format: a number (house, box or postcode) and a word, with a
/// street word, a postcode and town, or more than one part (lines or
/// comma-separated).
pub fn looks_like_address(s: &str) -> bool {
    let s = s.trim();
    if s.len() < 6 || !s.bytes().any(|b| b.is_ascii_digit()) {
        return false;
    }
    let words = s
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| w.chars().count() >= 2)
        .count();
    if words == 0 {
        return false;
    }
    let p = patterns();
    let parts = s
        .split(['\n', ','])
        .filter(|x| !x.trim().is_empty())
        .count();
    is_address(s)
        || p.street_word.is_match(s)
        || p.postcode_town.is_match(s)
        || (parts >= 2 && words >= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn street_lines_in_many_formats() {
        for ok in [
            "221 Baker Street",
            "1600 Pennsylvania Ave",
            "7631 Johnson Village Suite 690\nAdamsbury, OR 13900",
            "95537 Christopher Streets, New Shannon, IN 16350",
            "8, avenue Manon Gillet\n97636 Sainte Antoinenec",
            "12 rue de la Paix, 75002 Paris",
            "Hauptstraße 12, 10115 Berlin",
            "Kreinstr. 35/46\n51395 Bogen",
            "Berliner Straße 5",
            "Lindseysingel 6\n7170BM\n's-Heer Hendrikskinderen",
            "Kerkstraat 12a, 1017 GC Amsterdam",
            "Calle Mayor 5, 28013 Madrid",
            "C. de Montserrat Parejo 50 Apt. 12, Toledo, 41391",
            "Viale Parisi, 171 Appartamento 47\n44019, Montesanto (FE)",
            "Via Roma 10, 00100 Roma",
            "PO Box 4821\nLeeds\nLS1 4AP",
            "Postfach 1234\n10115 Berlin",
            "Postbus 43851\n9329 MU Mijdrecht",
            "PSC 1234, Box 5678\nAPO AA 12345",
        ] {
            assert!(is_address(ok), "{ok:?}");
            assert!(looks_like_address(ok), "{ok:?}");
        }
        // Only in a column named for addresses.
        for named in [
            "Flat 7\nJones Light\nNorth Holly\nS6 7LJ",
            "avenue Bègue\n90914 Sainte Diane",
            "Studio 66, Smith bypass, New Kimberley, W1U 4UW",
        ] {
            assert!(looks_like_address(named), "{named:?}");
        }
        for bad in [
            "Baker Street",
            "paid on time",
            "order 343-90-7301-X",
            "Level 2 Support",
            "version 10.2.3.4",
            "n/a",
            "12 345,67",
        ] {
            assert!(!is_address(bad), "{bad:?}");
            assert!(!looks_like_address(bad), "{bad:?}");
        }
        assert!(!is_address("Platz 2 im Ranking"));
    }

    #[test]
    fn addresses_in_text_take_their_town_and_postcode() {
        let t = "New address on file: 88 Martin Ford, New Lindafort, AB03 7YW. Thanks";
        let spans = find_addresses(t);
        assert_eq!(spans.len(), 1, "{spans:?}");
        assert_eq!(
            &t[spans[0].0..spans[0].1],
            "88 Martin Ford, New Lindafort, AB03 7YW"
        );
    }
}

//! Names users type for a closed set of choices (pruners, memory types, curves, ...): one
//! parser for all of them, case-insensitive, with `-` and `_` interchangeable.
//!
//! It lives in the workspace's Burn-free base crate so that every crate with a named enum can
//! use it.

/// A closed set of choices, each with one name (and maybe aliases) that users type.
pub trait Named: Copy + 'static {
    /// What one choice is, for errors ("memory type").
    const KIND: &'static str;
    /// Every choice, in the order errors and help list them.
    const ALL: &'static [Self];
    /// The name shown and written.
    fn name(self) -> &'static str;
    /// Other names this choice is accepted by.
    fn aliases(self) -> &'static [&'static str] {
        &[]
    }
}

/// `Display` as a [`Named`] type's name and `FromStr` through [`parse`], whose
/// [`UnknownName`] converts into the given error type: the two impls every named enum of the
/// workspace writes the same way.
///
/// ```
/// use mss_schedule::names::{Named, UnknownName};
///
/// #[derive(Debug, Clone, Copy, PartialEq)]
/// enum Fruit {
///     Apple,
/// }
///
/// impl Named for Fruit {
///     const KIND: &'static str = "fruit";
///     const ALL: &'static [Self] = &[Fruit::Apple];
///     fn name(self) -> &'static str {
///         "apple"
///     }
/// }
///
/// mss_schedule::display_and_parse_by_name!(Fruit, UnknownName);
///
/// assert_eq!("APPLE".parse::<Fruit>(), Ok(Fruit::Apple));
/// assert_eq!(Fruit::Apple.to_string(), "apple");
/// assert!("pear".parse::<Fruit>().is_err());
/// ```
#[macro_export]
macro_rules! display_and_parse_by_name {
    ($named:ty, $error:ty) => {
        impl ::std::fmt::Display for $named {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($crate::names::Named::name(*self))
            }
        }

        impl ::std::str::FromStr for $named {
            type Err = $error;

            /// Parses a name or alias in any case, `-` and `_` alike
            /// (`mss_schedule::names::parse`).
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                Ok($crate::names::parse::<$named>(s)?)
            }
        }
    };
}

/// A name that none of the choices of its kind answers to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{given}`; valid choices: {}", .valid.join(", "))]
pub struct UnknownName {
    /// What was being parsed.
    pub kind: &'static str,
    /// The name given.
    pub given: String,
    /// Every accepted name, aliases included.
    pub valid: Vec<&'static str>,
}

/// The choice `given` names: its name or an alias, ignoring ASCII case and surrounding space,
/// `-` and `_` alike.
pub fn parse<T: Named>(given: &str) -> Result<T, UnknownName> {
    T::ALL
        .iter()
        .copied()
        .find(|choice| {
            matches(given, choice.name()) || choice.aliases().iter().any(|a| matches(given, a))
        })
        .ok_or_else(|| UnknownName {
            kind: T::KIND,
            given: given.to_owned(),
            valid: valid_names::<T>(),
        })
}

/// Every accepted name of a kind: each choice's name, then its aliases.
pub fn valid_names<T: Named>() -> Vec<&'static str> {
    T::ALL
        .iter()
        .flat_map(|choice| std::iter::once(choice.name()).chain(choice.aliases().iter().copied()))
        .collect()
}

/// Whether `given` names `name`, ignoring ASCII case and surrounding space, and treating `-` as
/// `_`.
pub fn matches(given: &str, name: &str) -> bool {
    let given = given.trim();
    given.len() == name.len()
        && given
            .bytes()
            .zip(name.bytes())
            .all(|(g, n)| normalize(g) == normalize(n))
}

fn normalize(byte: u8) -> u8 {
    match byte {
        b'-' => b'_',
        b => b.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Fruit {
        GreenApple,
        Pear,
    }

    impl Named for Fruit {
        const KIND: &'static str = "fruit";
        const ALL: &'static [Self] = &[Self::GreenApple, Self::Pear];
        fn name(self) -> &'static str {
            match self {
                Self::GreenApple => "green_apple",
                Self::Pear => "pear",
            }
        }
        fn aliases(self) -> &'static [&'static str] {
            match self {
                Self::GreenApple => &["apple"],
                Self::Pear => &[],
            }
        }
    }

    #[test]
    fn case_and_dashes_are_ignored() {
        assert!(matches("Inverse-Convex", "inverse_convex"));
        assert!(matches(" fm ", "FM"));
        assert!(!matches("fmx", "FM"));
        assert!(!matches("", "FM"));
    }

    #[test]
    fn names_and_aliases_parse_and_unknown_names_list_every_choice() {
        assert_eq!(parse::<Fruit>("Green-Apple"), Ok(Fruit::GreenApple));
        assert_eq!(parse::<Fruit>(" APPLE"), Ok(Fruit::GreenApple));
        assert_eq!(parse::<Fruit>("pear"), Ok(Fruit::Pear));
        let error = parse::<Fruit>("plum").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown fruit `plum`; valid choices: green_apple, apple, pear"
        );
    }
}

//! Errors of the lock module: reading files, hashing them, and verifying them.

use std::fmt;

/// Why a definition or lock file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The bytes are not JSON, or not JSON of the expected shape.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// The `version` field names no version charon supports.
    #[error("unsupported definition version {0:?} (supported: v1.0.0 to v1.11.0)")]
    UnsupportedVersion(String),
    /// A field has the wrong type or an undecodable value.
    #[error("field {field}: {reason}")]
    Field {
        /// JSON path of the field, e.g. `cluster_definition.operators[1].config_signature`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file decodes but breaks one of charon's read-time rules.
    #[error("{0}")]
    Rule(String),
}

impl ParseError {
    pub(crate) fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ParseError::Field {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Why a hash could not be computed: a field does not fit its SSZ type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot hash {field}: {reason}")]
pub struct HashError {
    /// The field that does not fit.
    pub field: String,
    /// How it does not fit.
    pub reason: String,
}

impl HashError {
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        HashError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Where in a definition or lock a failed check applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The file as a whole.
    File,
    /// Operator at this 0-based index.
    Operator(usize),
    /// The cluster creator.
    Creator,
    /// Distributed validator at this 0-based index.
    Validator(usize),
    /// Public share `share` (0-based operator index) of validator `validator`.
    Share {
        /// Validator index.
        validator: usize,
        /// Operator (share) index, 0-based.
        share: usize,
    },
    /// Deposit `deposit` of validator `validator`.
    Deposit {
        /// Validator index.
        validator: usize,
        /// Index in the validator's deposit list.
        deposit: usize,
    },
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::File => Ok(()),
            Subject::Operator(i) => write!(f, " (operator {i})"),
            Subject::Creator => f.write_str(" (creator)"),
            Subject::Validator(i) => write!(f, " (validator {i})"),
            Subject::Share { validator, share } => {
                write!(f, " (validator {validator}, share of operator {share})")
            }
            Subject::Deposit { validator, deposit } => {
                write!(f, " (validator {validator}, deposit {deposit})")
            }
        }
    }
}

/// A failed verification: which check failed, where, and optionally why.
///
/// `check` is charon's error text for the same failure (e.g. `invalid lock hash`),
/// so rejections can be compared with charon's verdicts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} rejected: {check}{subject}{}", detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
pub struct VerifyError {
    /// `"lock"` or `"definition"`.
    pub kind: &'static str,
    /// The failed check, in charon's words.
    pub check: &'static str,
    /// Which operator, validator or share it concerns.
    pub subject: Subject,
    /// Extra detail (the underlying decoding error, expected vs actual values).
    pub detail: Option<String>,
}

impl VerifyError {
    pub(crate) fn new(kind: &'static str, check: &'static str, subject: Subject) -> Self {
        VerifyError {
            kind,
            check,
            subject,
            detail: None,
        }
    }

    pub(crate) fn with(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

//! Config, definition and lock hashes against the ones stored in the file.

use crate::lock::cluster::definition::Definition;
use crate::lock::cluster::error::{HashError, Subject, VerifyError};
use crate::lock::cluster::lockfile::Lock;
use crate::lock::cluster::verify::context::{Ctx, show_hex};

pub(super) fn definition_hashes(cx: Ctx, d: &Definition) -> Result<(), VerifyError> {
    let config = HashCheck {
        cannot: "cannot compute config hash",
        invalid: "invalid config hash",
    };
    config.check(cx, &d.config_hash, d.config_hash())?;
    let def = HashCheck {
        cannot: "cannot compute definition hash",
        invalid: "invalid definition hash",
    };
    def.check(cx, &d.definition_hash, d.definition_hash())
}

/// The two failures of one stored-vs-computed hash comparison.
struct HashCheck {
    cannot: &'static str,
    invalid: &'static str,
}

impl HashCheck {
    fn check(
        &self,
        cx: Ctx,
        stored: &[u8],
        computed: Result<[u8; 32], HashError>,
    ) -> Result<(), VerifyError> {
        let computed =
            computed.map_err(|e| cx.err(self.cannot, Subject::File).with(e.to_string()))?;
        if stored != computed {
            return Err(cx.err(self.invalid, Subject::File).with(format!(
                "file has {}, computed 0x{}",
                show_hex(stored),
                hex::encode(computed)
            )));
        }
        Ok(())
    }
}

pub(super) fn lock_hashes(cx: Ctx, l: &Lock) -> Result<(), VerifyError> {
    definition_hashes(cx, &l.definition)?;
    if l.validators.len() as u64 != l.definition.num_validators {
        return Err(cx
            .err("lock validators count mismatch", Subject::File)
            .with(format!(
                "num_validators is {}, the lock has {} distributed validators",
                l.definition.num_validators,
                l.validators.len()
            )));
    }
    let lock = HashCheck {
        cannot: "cannot compute lock hash",
        invalid: "invalid lock hash",
    };
    lock.check(cx, &l.lock_hash, l.lock_hash())
}

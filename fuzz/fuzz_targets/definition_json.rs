//! Definition parsing, hashing, writing and verification on arbitrary bytes.
#![no_main]

use charon_dkg_sidecar::lock::network::NetworkSet;
use charon_dkg_sidecar::lock::{Definition, VerifyOptions, verify_definition};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(def) = Definition::from_json(data) else {
        return;
    };
    let opts = VerifyOptions {
        networks: NetworkSet::WITH_HOLESKY,
        check_deposits: true,
    };
    let _ = verify_definition(&def, &opts);
    if let Ok(out) = def.to_json() {
        assert!(Definition::from_json(&out).is_ok());
    }
});

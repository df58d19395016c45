//! Lock parsing, hashing, writing and verification on arbitrary bytes.
#![no_main]

use charon_dkg_sidecar::lock::network::NetworkSet;
use charon_dkg_sidecar::lock::{Lock, VerifyOptions, verify_lock};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(lock) = Lock::from_json(data) else {
        return;
    };
    let opts = VerifyOptions {
        networks: NetworkSet::WITH_HOLESKY,
        check_deposits: true,
    };
    let _ = verify_lock(&lock, &opts);
    if let Ok(out) = lock.to_json() {
        // Our own output must always read back.
        assert!(Lock::from_json(&out).is_ok());
    }
});

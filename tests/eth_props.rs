//! Property tests over whole input classes: keystore passwords, deposit file
//! names, withdrawal credentials.

use charon_dkg_sidecar::frost::bls::SecretKey;
use charon_dkg_sidecar::lock::deposit::{self, GWEI_PER_ETH};
use charon_dkg_sidecar::lock::keystore::{self, INSECURE_PBKDF2_C, Password};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_password_round_trips(pw in any::<String>(), key in 1u8..=0x72) {
        let sk = SecretKey::from_bytes(&[key; 32]).unwrap();
        let ks = keystore::encrypt(&sk, &Password::new(pw.clone()), INSECURE_PBKDF2_C);
        let json = keystore::to_json(&ks);
        let back = keystore::from_json(&json, "p").unwrap();
        let got = keystore::decrypt(&back, &Password::new(pw.clone()), "p").unwrap();
        prop_assert_eq!(*got.to_bytes(), *sk.to_bytes());
        // Control characters (such as a trailing newline) are ignored.
        let got = keystore::decrypt(&back, &Password::new(format!("\n{pw}\r\n\u{7f}")), "p").unwrap();
        prop_assert_eq!(*got.to_bytes(), *sk.to_bytes());
        // A different visible password fails with a checksum error.
        let other = format!("{pw}x");
        let wrong = matches!(
            keystore::decrypt(&back, &Password::new(other), "p"),
            Err(keystore::KeystoreError::Checksum { .. })
        );
        prop_assert!(wrong);
    }

    #[test]
    fn whole_eth_file_names(eth in 1u64..=2048) {
        let name = deposit::deposit_file_name(eth * GWEI_PER_ETH);
        if eth == 32 {
            prop_assert_eq!(name, "deposit-data.json");
        } else {
            prop_assert_eq!(name, format!("deposit-data-{eth}eth.json"));
        }
    }

    #[test]
    fn fractional_file_names_are_exact_decimals(eth in 1u64..=2047, gwei in 1u64..GWEI_PER_ETH) {
        // Up to 2048 ETH every gwei amount is exactly representable as a
        // shortest decimal with at most 9 fractional digits.
        let name = deposit::deposit_file_name(eth * GWEI_PER_ETH + gwei);
        let frac = format!("{gwei:09}");
        let frac = frac.trim_end_matches('0');
        prop_assert_eq!(name, format!("deposit-data-{eth}.{frac}eth.json"));
    }

    #[test]
    fn withdrawal_credentials_layout(addr in any::<[u8; 20]>(), compounding in any::<bool>()) {
        let wc = deposit::withdrawal_credentials(addr, compounding);
        prop_assert_eq!(wc[0], if compounding { 2 } else { 1 });
        prop_assert_eq!(&wc[1..12], &[0u8; 11][..]);
        prop_assert_eq!(&wc[12..], &addr[..]);
    }
}

//! EIP-2335 keystores: charon's scrypt vector, pbkdf2 round trips, layout,
//! tampering, and the validator_keys directory conventions.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use charon_dkg_sidecar::frost::bls::SecretKey;
use charon_dkg_sidecar::lock::keystore::{
    self, INSECURE_PBKDF2_C, Keystore, KeystoreError, Password, WriteOptions,
};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/");

fn scrypt_vector() -> (Keystore, String) {
    let json = std::fs::read(format!(
        "{VECTORS}charon__eth2util__keystore__testdata__keystore-scrypt.json"
    ))
    .unwrap();
    let pw = std::fs::read_to_string(format!(
        "{VECTORS}charon__eth2util__keystore__testdata__keystore-scrypt.txt"
    ))
    .unwrap();
    (keystore::from_json(&json, "scrypt").unwrap(), pw)
}

fn sk(b: u8) -> SecretKey {
    SecretKey::from_bytes(&[b; 32]).unwrap()
}

#[test]
fn scrypt_vector_decrypts_to_charon_secret() {
    let (ks, pw) = scrypt_vector();
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{VECTORS}inline_vectors.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(pw, v["keystore"]["password_file_content"].as_str().unwrap());
    let secret = keystore::decrypt(&ks, &Password::new(pw.clone()), "scrypt").unwrap();
    assert_eq!(
        hex::encode(*secret.to_bytes()),
        v["keystore"]["expected_secret"].as_str().unwrap()
    );
    // A trailing newline in the password file is stripped by normalisation.
    let again = keystore::decrypt(&ks, &Password::new(format!("{pw}\n")), "scrypt").unwrap();
    assert_eq!(*again.to_bytes(), *secret.to_bytes());
    // Wrong password.
    let err = keystore::decrypt(
        &ks,
        &Password::new("b919b2444a86353a5f226911efe5105f"),
        "scrypt",
    )
    .unwrap_err();
    assert!(matches!(err, KeystoreError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("wrong password"));
}

#[test]
fn pbkdf2_round_trip_default_and_insecure() {
    let secret = sk(3);
    let pw = Password::random();
    for c in [keystore::DEFAULT_PBKDF2_C, INSECURE_PBKDF2_C] {
        let ks = keystore::encrypt(&secret, &pw, c);
        assert_eq!(ks.crypto.kdf.params.c, Some(c));
        let json = keystore::to_json(&ks);
        let back = keystore::from_json(&json, "k").unwrap();
        assert_eq!(back, ks);
        let got = keystore::decrypt(&back, &pw, "k").unwrap();
        assert_eq!(*got.to_bytes(), *secret.to_bytes());
        assert!(matches!(
            keystore::decrypt(&back, &Password::new("nope"), "k"),
            Err(KeystoreError::Checksum { .. })
        ));
    }
}

#[test]
fn json_layout_is_charons() {
    let secret = sk(4);
    let ks = keystore::encrypt(&secret, &Password::new("pw"), INSECURE_PBKDF2_C);
    let text = String::from_utf8(keystore::to_json(&ks)).unwrap();
    let expected = format!(
        "{{\n \"crypto\": {{\n  \"checksum\": {{\n   \"function\": \"sha256\",\n   \"message\": \"{}\",\n   \"params\": {{}}\n  }},\n  \"cipher\": {{\n   \"function\": \"aes-128-ctr\",\n   \"message\": \"{}\",\n   \"params\": {{\n    \"iv\": \"{}\"\n   }}\n  }},\n  \"kdf\": {{\n   \"function\": \"pbkdf2\",\n   \"message\": \"\",\n   \"params\": {{\n    \"c\": 16,\n    \"dklen\": 32,\n    \"prf\": \"hmac-sha256\",\n    \"salt\": \"{}\"\n   }}\n  }}\n }},\n \"description\": \"\",\n \"pubkey\": \"{}\",\n \"path\": \"m/12381/3600/0/0/0\",\n \"uuid\": \"{}\",\n \"version\": 4\n}}",
        ks.crypto.checksum.message,
        ks.crypto.cipher.message,
        ks.crypto.cipher.params.iv,
        ks.crypto.kdf.params.salt,
        hex::encode(secret.public_key().0),
        ks.uuid
    );
    assert_eq!(text, expected);
    assert_eq!(ks.crypto.kdf.params.salt.len(), 64);
    assert_eq!(ks.crypto.cipher.params.iv.len(), 32);
    assert_eq!(ks.uuid.len(), 36);
    // Fresh randomness per keystore.
    let ks2 = keystore::encrypt(&secret, &Password::new("pw"), INSECURE_PBKDF2_C);
    assert_ne!(ks.crypto.kdf.params.salt, ks2.crypto.kdf.params.salt);
    assert_ne!(ks.crypto.cipher.params.iv, ks2.crypto.cipher.params.iv);
    assert_ne!(ks.uuid, ks2.uuid);
}

#[test]
fn tampering_is_detected() {
    let secret = sk(5);
    let pw = Password::new("correct horse");
    let ks = keystore::encrypt(&secret, &pw, INSECURE_PBKDF2_C);
    let flip = |s: &str| {
        let mut b = hex::decode(s).unwrap();
        b[0] ^= 1;
        hex::encode(b)
    };
    let mut cases: Vec<Keystore> = Vec::new();
    let mut k = ks.clone();
    k.crypto.checksum.message = flip(&k.crypto.checksum.message);
    cases.push(k);
    let mut k = ks.clone();
    k.crypto.cipher.message = flip(&k.crypto.cipher.message);
    cases.push(k);
    let mut k = ks.clone();
    k.crypto.kdf.params.salt = flip(&k.crypto.kdf.params.salt);
    cases.push(k);
    let mut k = ks.clone();
    k.crypto.kdf.params.c = Some(17);
    cases.push(k);
    for k in &cases {
        assert!(matches!(
            keystore::decrypt(k, &pw, "t"),
            Err(KeystoreError::Checksum { .. })
        ));
    }
    // An altered IV is not covered by the checksum but yields another secret,
    // which no longer matches the stored pubkey.
    let mut k = ks.clone();
    k.crypto.cipher.params.iv = flip(&k.crypto.cipher.params.iv);
    assert!(keystore::decrypt(&k, &pw, "t").is_err());

    let mut invalid: Vec<Keystore> = Vec::new();
    let mut k = ks.clone();
    k.version = 3;
    invalid.push(k);
    let mut k = ks.clone();
    k.crypto.kdf.function = "argon2".into();
    invalid.push(k);
    let mut k = ks.clone();
    k.crypto.kdf.params.prf = Some("hmac-sha512".into());
    invalid.push(k);
    let mut k = ks.clone();
    k.crypto.kdf.params.c = Some(1 << 30);
    invalid.push(k);
    let mut k = ks.clone();
    k.crypto.kdf.params.c = Some(0);
    invalid.push(k);
    let mut k = ks.clone();
    k.crypto.kdf.params.dklen = 16;
    invalid.push(k);
    let mut k = ks.clone();
    k.crypto.cipher.function = "aes-256-gcm".into();
    invalid.push(k);
    let mut k = ks.clone();
    k.crypto.cipher.message.truncate(62);
    invalid.push(k);
    let mut k = ks.clone();
    k.crypto.cipher.params.iv = "00".into();
    invalid.push(k);
    let mut k = ks.clone();
    k.crypto.checksum.message = "zz".into();
    invalid.push(k);
    for (i, k) in invalid.iter().enumerate() {
        assert!(
            matches!(
                keystore::decrypt(k, &pw, "t"),
                Err(KeystoreError::Invalid { .. })
            ),
            "case {i}"
        );
    }
}

#[test]
fn hostile_scrypt_parameters_are_refused_quickly() {
    let (ks, pw) = scrypt_vector();
    let pw = Password::new(pw);
    for (n, r, p) in [
        (1u64 << 30, 8, 1),
        (262_143, 8, 1),
        (0, 8, 1),
        (262_144, 0, 1),
        (262_144, 8, 0),
        (1 << 10, 8, 1 << 20),
    ] {
        let mut k = ks.clone();
        k.crypto.kdf.params.n = Some(n);
        k.crypto.kdf.params.r = Some(r);
        k.crypto.kdf.params.p = Some(p);
        assert!(
            matches!(
                keystore::decrypt(&k, &pw, "t"),
                Err(KeystoreError::Invalid { .. })
            ),
            "{n} {r} {p}"
        );
    }
    let mut k = ks.clone();
    k.crypto.kdf.params.r = None;
    assert!(keystore::decrypt(&k, &pw, "t").is_err());
    // Garbage JSON.
    assert!(keystore::from_json(b"{}", "t").is_err());
    assert!(keystore::from_json(b"not json", "t").is_err());
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn write_and_load_validator_keys() {
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("validator_keys");
    let secrets: Vec<SecretKey> = (1..=5).map(sk).collect();
    let opts = WriteOptions {
        pbkdf2_c: INSECURE_PBKDF2_C,
        insecure_names: false,
    };
    let paths = keystore::write_keystores_with(&keys_dir, &secrets, opts).unwrap();
    assert_eq!(paths.len(), 5);
    for (i, s) in secrets.iter().enumerate() {
        let json = keys_dir.join(format!("keystore-{i}.json"));
        let txt = keys_dir.join(format!("keystore-{i}.txt"));
        assert_eq!(paths[i], json);
        assert_eq!(mode(&json), 0o444);
        assert_eq!(mode(&txt), 0o400);
        let pw = std::fs::read_to_string(&txt).unwrap();
        assert_eq!(pw.len(), 32);
        assert!(pw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        let ks = keystore::from_json(&std::fs::read(&json).unwrap(), "k").unwrap();
        assert_eq!(ks.pubkey, hex::encode(s.public_key().0));
    }
    assert_eq!(std::fs::read_dir(&keys_dir).unwrap().count(), 10);
    let loaded = keystore::load_keystores(&keys_dir).unwrap();
    assert_eq!(loaded.len(), 5);
    for (pos, (i, s)) in loaded.iter().enumerate() {
        assert_eq!(pos, *i);
        assert_eq!(*s.to_bytes(), *secrets[pos].to_bytes());
    }
    // Refuses a non-empty directory.
    assert!(matches!(
        keystore::write_keystores_with(&keys_dir, &secrets, opts),
        Err(KeystoreError::NotEmpty(_))
    ));
}

#[test]
fn load_requires_contiguous_indexes_and_passwords() {
    let opts = WriteOptions {
        pbkdf2_c: INSECURE_PBKDF2_C,
        insecure_names: true,
    };
    let secrets: Vec<SecretKey> = (1..=3).map(sk).collect();

    // Insecure names load too.
    let d = tempfile::tempdir().unwrap();
    keystore::write_keystores_with(d.path(), &secrets, opts).unwrap();
    assert!(d.path().join("keystore-insecure-2.json").exists());
    assert_eq!(keystore::load_keystores(d.path()).unwrap().len(), 3);

    // A gap in the indexes.
    std::fs::remove_file(d.path().join("keystore-insecure-1.json")).unwrap();
    let err = keystore::load_keystores(d.path()).unwrap_err();
    assert!(matches!(err, KeystoreError::Indexes { .. }), "{err}");

    // Two files for one index.
    let d = tempfile::tempdir().unwrap();
    keystore::write_keystores_with(d.path(), &secrets, opts).unwrap();
    std::fs::copy(
        d.path().join("keystore-insecure-0.json"),
        d.path().join("keystore-0.json"),
    )
    .unwrap();
    std::fs::copy(
        d.path().join("keystore-insecure-0.txt"),
        d.path().join("keystore-0.txt"),
    )
    .unwrap();
    assert!(matches!(
        keystore::load_keystores(d.path()),
        Err(KeystoreError::Indexes { .. })
    ));

    // A missing password file.
    let d = tempfile::tempdir().unwrap();
    keystore::write_keystores_with(d.path(), &secrets, opts).unwrap();
    std::fs::remove_file(d.path().join("keystore-insecure-2.txt")).unwrap();
    assert!(matches!(
        keystore::load_keystores(d.path()),
        Err(KeystoreError::Io { .. })
    ));

    // A wrong password.
    let d = tempfile::tempdir().unwrap();
    keystore::write_keystores_with(d.path(), &secrets, opts).unwrap();
    let txt = d.path().join("keystore-insecure-1.txt");
    std::fs::remove_file(&txt).unwrap();
    std::fs::write(&txt, "00000000000000000000000000000000").unwrap();
    assert!(matches!(
        keystore::load_keystores(d.path()),
        Err(KeystoreError::Checksum { .. })
    ));

    // An unparsable name and an empty directory.
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("keystore-x.json"), "{}").unwrap();
    assert!(matches!(
        keystore::load_keystores(d.path()),
        Err(KeystoreError::Indexes { .. })
    ));
    let d = tempfile::tempdir().unwrap();
    assert!(matches!(
        keystore::load_keystores(d.path()),
        Err(KeystoreError::NoKeys(_))
    ));
}

#[test]
fn scrypt_keystore_loads_from_a_directory() {
    let d = tempfile::tempdir().unwrap();
    std::fs::copy(
        format!("{VECTORS}charon__eth2util__keystore__testdata__keystore-scrypt.json"),
        d.path().join("keystore-0.json"),
    )
    .unwrap();
    std::fs::copy(
        format!("{VECTORS}charon__eth2util__keystore__testdata__keystore-scrypt.txt"),
        d.path().join("keystore-0.txt"),
    )
    .unwrap();
    let keys = keystore::load_keystores(d.path()).unwrap();
    assert_eq!(
        hex::encode(*keys[0].1.to_bytes()),
        "10b16fc552aa607fa1399027f7b86ab789077e470b5653b338693dc2dde02468"
    );
}

#[test]
fn oversized_files_are_refused() {
    let d = tempfile::tempdir().unwrap();
    keystore::write_keystores_with(
        d.path(),
        &[sk(1)],
        WriteOptions {
            pbkdf2_c: INSECURE_PBKDF2_C,
            insecure_names: false,
        },
    )
    .unwrap();
    let txt = d.path().join("keystore-0.txt");
    std::fs::remove_file(&txt).unwrap();
    std::fs::write(&txt, vec![b'a'; 1 << 17]).unwrap();
    assert!(matches!(
        keystore::load_keystores(d.path()),
        Err(KeystoreError::Io { .. })
    ));
}

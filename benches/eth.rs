//! Benchmarks of the Ethereum outputs: keystore encryption (charon's pbkdf2
//! 2^18), deposit signing/verification and file rendering, and cluster creation.

use criterion::{Criterion, criterion_group, criterion_main};

use charon_dkg_sidecar::frost::bls::SecretKey;
use charon_dkg_sidecar::lock::create::{self, CreateOptions};
use charon_dkg_sidecar::lock::deposit::{self, GWEI_PER_ETH};
use charon_dkg_sidecar::lock::keystore::{self, DEFAULT_PBKDF2_C, Password};
use charon_dkg_sidecar::lock::network::NetworkSet;

fn secrets(n: usize) -> Vec<SecretKey> {
    (0..n)
        .map(|i| {
            let mut b = [7u8; 32];
            b[31] = i as u8;
            b[30] = (i >> 8) as u8;
            SecretKey::from_bytes(&b).unwrap()
        })
        .collect()
}

fn keystores(c: &mut Criterion) {
    let mut g = c.benchmark_group("keystore");
    g.sample_size(10);
    let sk = secrets(1);
    let pw = Password::random();
    g.bench_function("kdf_pbkdf2_2^18", |b| {
        let mut out = [0u8; 32];
        b.iter(|| {
            charon_dkg_sidecar::lock::pbkdf2::pbkdf2_hmac_sha256(
                b"password",
                &[7u8; 32],
                DEFAULT_PBKDF2_C,
                &mut out,
            )
        })
    });
    g.bench_function("kdf_pbkdf2_2^18_batch_of_64", |b| {
        let salts: Vec<[u8; 32]> = (0..64u8).map(|i| [i; 32]).collect();
        let inputs: Vec<(&[u8], &[u8])> = salts
            .iter()
            .map(|s| (b"password".as_slice(), s.as_slice()))
            .collect();
        b.iter(|| charon_dkg_sidecar::lock::pbkdf2::derive_keys(&inputs, DEFAULT_PBKDF2_C))
    });
    g.bench_function("kdf_pbkdf2_2^18_generic_hmac", |b| {
        let mut out = [0u8; 32];
        b.iter(|| {
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"password", &[7u8; 32], DEFAULT_PBKDF2_C, &mut out)
        })
    });
    g.bench_function("encrypt_pbkdf2_2^18", |b| {
        b.iter(|| keystore::encrypt(&sk[0], &pw, DEFAULT_PBKDF2_C))
    });
    let ks = keystore::encrypt(&sk[0], &pw, DEFAULT_PBKDF2_C);
    g.bench_function("decrypt_pbkdf2_2^18", |b| {
        b.iter(|| keystore::decrypt(&ks, &pw, "bench").unwrap())
    });
    let many = secrets(8);
    g.bench_function("encrypt_many_8_pbkdf2_2^18", |b| {
        b.iter(|| keystore::encrypt_many(&many, DEFAULT_PBKDF2_C))
    });
    g.finish();
}

fn deposits(c: &mut Criterion) {
    let mut g = c.benchmark_group("deposit");
    g.sample_size(10);
    let hoodi = NetworkSet::DEFAULT.by_name("hoodi").unwrap();
    let fv = hoodi.genesis_fork_version;
    let sks = secrets(100);
    let dds: Vec<_> = sks
        .iter()
        .map(|sk| {
            let m =
                deposit::new_deposit_message(sk.public_key().0, [1; 20], 32 * GWEI_PER_ETH, false)
                    .unwrap();
            deposit::sign_deposit(&m, sk, fv).unwrap()
        })
        .collect();
    g.bench_function("sign_one", |b| {
        let m = dds[0].message();
        b.iter(|| deposit::sign_deposit(&m, &sks[0], fv).unwrap())
    });
    g.bench_function("verify_one", |b| {
        b.iter(|| deposit::verify_deposit(&dds[0], fv).unwrap())
    });
    g.bench_function("marshal_100_verified", |b| {
        b.iter(|| deposit::marshal_deposit_data(&dds, &hoodi).unwrap())
    });
    g.finish();
}

fn cluster(c: &mut Criterion) {
    let mut g = c.benchmark_group("create");
    g.sample_size(10);
    let hoodi = NetworkSet::DEFAULT.by_name("hoodi").unwrap();
    let o = CreateOptions::new(hoodi, 4, 100, [1; 20], [2; 20]);
    g.bench_function("cluster_4_nodes_100_validators", |b| {
        b.iter(|| create::create_cluster(&o, &mut rand::thread_rng()).unwrap())
    });
    g.finish();
}

criterion_group!(benches, keystores, deposits, cluster);
criterion_main!(benches);

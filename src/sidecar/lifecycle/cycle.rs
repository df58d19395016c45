//! One polling cycle: list the candidates, verify and classify each, accept
//! the chosen invitation when allowed, and pick the definition to run.

use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::Value;

use super::driver::{Sidecar, launchpad_link};
use crate::sidecar::accept::{AcceptError, OperatorSigner, accept_invitation};
use crate::sidecar::api::ApiError;
use crate::sidecar::defn::{self, CheckError, Definition};
use crate::sidecar::runner::DkgRunner;
use crate::sidecar::select::{Me, Policy, Status, bounded, classify, describe, order, text};

/// What one polling cycle found.
pub(super) struct Cycle {
    pub(super) ready: Option<Definition>,
    pub(super) fingerprint: u64,
    pub(super) progressed: bool,
}

/// Counts for the one INFO line a cycle logs.
#[derive(Debug, Default)]
struct Tally {
    ready: usize,
    invited: usize,
    waiting: usize,
    rejected: usize,
    unauthorised: usize,
    not_ours: usize,
}

/// A verified candidate of the cycle.
struct Valid {
    def: Definition,
    status: Status,
}

impl<R: DkgRunner> Sidecar<R> {
    /// The definitions this cycle considers: the pinned one, or every page of
    /// the operator's listing.
    async fn fetch_candidates(&self) -> Result<Vec<Value>, ApiError> {
        let cfg = &self.config;
        Ok(match &cfg.target_config_hash {
            Some(h) => match self.api.definition(h).await? {
                Some(d) => vec![d],
                None => {
                    tracing::info!(
                        "No invite found: the Obol API has no definition {h} (TARGET_CONFIG_HASH) yet"
                    );
                    vec![]
                }
            },
            None => {
                self.api
                    .operator_definitions(&cfg.operator_address, cfg.page_limit)
                    .await?
            }
        })
    }

    /// A candidate whose contract-wallet signatures the execution client could
    /// not check this time (reported once; it is tried again next cycle).
    fn unchecked_yet(&self, key: &str, def: &Definition, why: &str) {
        self.warn_once(
            format!("unchecked:{key}"),
            &format!(
                "Cannot verify {} yet: {}; retrying next cycle",
                describe(def),
                bounded(why)
            ),
        );
    }

    /// One polling cycle: every candidate is parsed once, classified, verified
    /// and checked against the policy; problems are reported once per
    /// definition and skipped, so no bad entry hides a good one.
    pub(super) async fn poll(
        &self,
        me: &Me,
        signer: Option<&OperatorSigner>,
    ) -> Result<Cycle, ApiError> {
        let cfg = &self.config;
        let op = &cfg.operator_address;
        let policy = self.policy();
        let served = self.fetch_candidates().await?;

        let mut tally = Tally::default();
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut ready: Vec<Definition> = Vec::new();
        let mut pending: Vec<Valid> = Vec::new();
        for (i, raw) in served.iter().enumerate() {
            let def = match defn::parse_definition(raw) {
                Ok(d) => d,
                Err(e) => {
                    tally.rejected += 1;
                    let mut h = DefaultHasher::new();
                    raw.to_string().hash(&mut h);
                    let key = format!("unreadable:{:x}", h.finish());
                    seen.push((key.clone(), "unreadable".into()));
                    self.warn_once(
                        key,
                        &format!(
                            "REJECTED definition #{} ({}): {}; it will never be used",
                            i + 1,
                            bounded(text(raw, "config_hash")),
                            bounded(&e.0)
                        ),
                    );
                    continue;
                }
            };
            let hash = defn::config_hash_hex(&def);
            let key = format!("{hash}:{}", hex::encode(&def.definition_hash));
            tracing::debug!("  {}. {}", i + 1, describe(&def));
            if let Some(t) = &cfg.target_config_hash
                && &hash != t
            {
                tally.not_ours += 1;
                self.warn_once(
                    format!("not-target:{key}"),
                    &format!(
                        "Obol API returned definition {} when asked for {t}; ignoring it",
                        bounded(&hash)
                    ),
                );
                continue;
            }
            if let Some(want) = cfg.chain_id
                && !defn::chain_id(&defn::fork_version_hex(&def)).is_ok_and(|c| c == want)
            {
                tally.not_ours += 1;
                tracing::debug!(
                    "Ignoring definition {}: fork_version {} is not chain {want} (CHAIN_ID)",
                    bounded(&hash),
                    defn::fork_version_hex(&def)
                );
                continue;
            }
            let status = classify(&def, me);
            seen.push((key.clone(), format!("{status:?}")));
            match status {
                Status::NotOurs => {
                    tally.not_ours += 1;
                    if cfg.target_config_hash.is_some() {
                        if self.first_report(format!("not-ours:{key}")) {
                            tracing::error!(
                                "ENR MISMATCH: definition {hash} (TARGET_CONFIG_HASH) lists neither operator {op} nor this node's ENR {}",
                                me.enr
                            );
                        }
                    } else {
                        tracing::debug!("Definition {} is not for this operator", bounded(&hash));
                    }
                }
                Status::EnrMismatch { found } => {
                    tally.not_ours += 1;
                    self.warn_once(
                        format!("mismatch:{key}"),
                        &format!(
                            "ENR MISMATCH: operator {op} accepted {} with ENR {found}, but this node's ENR is {}; ignoring it",
                            describe(&def),
                            me.enr
                        ),
                    );
                }
                Status::Malformed(reason) => {
                    tally.rejected += 1;
                    self.warn_once(
                        format!("malformed:{key}"),
                        &format!(
                            "REJECTED definition {}: {}; it will never be used",
                            describe(&def),
                            bounded(&reason)
                        ),
                    );
                }
                Status::Ready => {
                    // Nobody consented to an unsigned (ENR-mode) definition:
                    // only the user's own pin makes it usable.
                    if defn::is_unsigned(&def) && !policy.pinned(&def) {
                        tally.unauthorised += 1;
                        self.warn_once(
                            format!("unsigned:{key}"),
                            &format!(
                                "Not using {}: no operator signed this ENR-mode definition; set TARGET_CONFIG_HASH={hash} to use it",
                                describe(&def)
                            ),
                        );
                        continue;
                    }
                    match defn::verified_for_dkg_with(&def, self.ec()).await {
                        Err(CheckError::Unchecked(e)) => {
                            tally.waiting += 1;
                            self.unchecked_yet(&key, &def, &e);
                        }
                        Err(CheckError::Invalid(e)) => {
                            tally.rejected += 1;
                            if self.first_report(format!("rejected:{key}")) {
                                tracing::error!(
                                    "REJECTED definition {}: it fails verification ({}); it will never be used",
                                    describe(&def),
                                    bounded(&e.0)
                                );
                            }
                        }
                        Ok(checked) => match policy.check(&checked) {
                            Ok(()) => {
                                tally.ready += 1;
                                ready.push(checked);
                            }
                            Err(why) => {
                                tally.unauthorised += 1;
                                self.warn_once(
                                    format!("unauthorised:{key}"),
                                    &format!(
                                        "Not using fully signed definition {}: {why}",
                                        describe(&def)
                                    ),
                                );
                            }
                        },
                    }
                }
                Status::NeedsOurAcceptance | Status::WaitingForOthers { .. } => {
                    let invited = status == Status::NeedsOurAcceptance;
                    match defn::verify_invitation_with(&def, self.ec()).await {
                        Ok(()) => {}
                        Err(CheckError::Unchecked(e)) => {
                            tally.waiting += 1;
                            self.unchecked_yet(&key, &def, &e);
                            continue;
                        }
                        Err(CheckError::Invalid(e)) => {
                            tally.rejected += 1;
                            if self.first_report(format!("rejected:{key}")) {
                                tracing::error!(
                                    "REJECTED {} {}: it fails verification ({}); {}",
                                    if invited { "invitation" } else { "definition" },
                                    describe(&def),
                                    bounded(&e.0),
                                    if invited {
                                        "not accepting it"
                                    } else {
                                        "it will never be used"
                                    }
                                );
                            }
                            continue;
                        }
                    }
                    if let Err(why) = policy.check(&def) {
                        tally.unauthorised += 1;
                        self.warn_once(
                            format!("unauthorised:{key}"),
                            &format!(
                                "Not {} {}: {why}",
                                if invited {
                                    "accepting invitation"
                                } else {
                                    "waiting for"
                                },
                                describe(&def)
                            ),
                        );
                        continue;
                    }
                    if invited {
                        tally.invited += 1;
                    } else {
                        tally.waiting += 1;
                    }
                    pending.push(Valid { def, status });
                }
            }
        }
        order(&mut ready, |d| d);
        order(&mut pending, |v| &v.def);

        let summary = format!(
            "{} ready, {} invited, {} waiting, {} rejected, {} not authorised, {} not ours",
            tally.ready,
            tally.invited,
            tally.waiting,
            tally.rejected,
            tally.unauthorised,
            tally.not_ours
        );
        if served.is_empty() {
            if cfg.target_config_hash.is_none() {
                tracing::info!("No invite found for operator {op}");
            }
        } else {
            tracing::info!(
                "Found {} cluster definition(s) for operator {op}: {summary}",
                served.len()
            );
        }

        let mut progressed = false;
        let mut chosen = ready.into_iter().next();
        if let Some(r) = &chosen {
            tracing::info!(
                "All {} operators have signed {}. Definition ready for DKG!",
                r.operators.len(),
                describe(r)
            );
            if cfg.target_config_hash.is_none() {
                // The listing may be stale or abridged: use the copy served by hash.
                chosen = Some(self.refreshed(me, &policy, r).await);
            }
        } else {
            for cand in &pending {
                let def = &cand.def;
                if let Status::WaitingForOthers { signed, total } = cand.status {
                    // The newest valid one we accepted: nothing older is accepted meanwhile.
                    tracing::info!(
                        "Waiting for other operators on {}: {signed} of {total} have signed",
                        describe(def)
                    );
                    break;
                }
                let Some(s) = signer else {
                    if self.first_report(format!("manual:{}", defn::config_hash_hex(def))) {
                        tracing::info!(
                            "Operator {op} is invited to {} but has not accepted yet. Accept at {} with ENR {}, or set OPERATOR_PRIVATE_KEY_FILE (with TARGET_CONFIG_HASH or ACCEPT_INVITATIONS_FROM) to accept automatically.",
                            describe(def),
                            launchpad_link(def),
                            me.enr
                        );
                    }
                    break;
                };
                match self.accept(s, me, def).await {
                    Ok(updated) => {
                        progressed = true;
                        chosen = updated;
                        break;
                    }
                    // The API refuses this one for good (e.g. 404): the next may work.
                    Err(permanent) if permanent => continue,
                    Err(_) => break,
                }
            }
        }

        let mut h = DefaultHasher::new();
        seen.sort();
        seen.hash(&mut h);
        Ok(Cycle {
            ready: chosen,
            fingerprint: h.finish(),
            progressed,
        })
    }

    /// The ready definition `listed` as served by hash, when that copy is
    /// still ready, valid and authorised; otherwise the listed copy.
    async fn refreshed(&self, me: &Me, policy: &Policy, listed: &Definition) -> Definition {
        let hash = defn::config_hash_hex(listed);
        let fresh = match self.api.definition(&hash).await {
            Ok(Some(v)) => v,
            Ok(None) => return listed.clone(),
            Err(e) => {
                tracing::debug!("Using the listed copy of {hash}: {e}");
                return listed.clone();
            }
        };
        match defn::parse_definition(&fresh) {
            Ok(d)
                if defn::config_hash_hex(&d) == hash
                    && classify(&d, me) == Status::Ready
                    && (!defn::is_unsigned(&d) || policy.pinned(&d)) =>
            {
                match defn::verified_for_dkg_with(&d, self.ec()).await {
                    Ok(checked) if policy.check(&checked).is_ok() => checked,
                    _ => listed.clone(),
                }
            }
            _ => {
                tracing::debug!("Using the listed copy of {hash}");
                listed.clone()
            }
        }
    }

    /// Accepts the verified, authorised invitation `inv`. `Ok` carries the
    /// definition when the acceptance made it ready; `Err(true)` when the API
    /// refused it permanently (reported once), `Err(false)` for a transient
    /// failure worth retrying next cycle.
    async fn accept(
        &self,
        s: &OperatorSigner,
        me: &Me,
        inv: &Definition,
    ) -> Result<Option<Definition>, bool> {
        let hash = defn::config_hash_hex(inv);
        tracing::info!(
            "Accepting invitation {} as operator {} with ENR {}",
            describe(inv),
            s.address(),
            me.enr
        );
        let updated = match accept_invitation(&self.api, s, inv, &me.enr).await {
            Ok(v) => v,
            Err(e) => {
                let permanent = match &e {
                    AcceptError::Api(a) => !a.is_transient(),
                    AcceptError::Definition(_) => true,
                };
                let msg = format!(
                    "Could not accept invitation {hash}: {}",
                    bounded(&e.to_string())
                );
                if permanent {
                    self.warn_once(format!("accept-failed:{hash}"), &msg);
                } else {
                    tracing::warn!("{msg}");
                }
                return Err(permanent);
            }
        };
        tracing::info!("Accepted invitation {hash}");
        let ready = defn::parse_definition(&updated)
            .ok()
            .filter(|d| defn::config_hash_hex(d) == hash && classify(d, me) == Status::Ready);
        let Some(d) = ready else {
            return Ok(None);
        };
        Ok(match defn::verified_for_dkg_with(&d, self.ec()).await {
            Ok(checked) => {
                tracing::info!(
                    "Every operator has now signed {}. Definition ready for DKG!",
                    describe(&checked)
                );
                Some(checked)
            }
            Err(_) => None,
        })
    }
}

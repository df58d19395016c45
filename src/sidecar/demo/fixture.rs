//! Throw-away clusters for the demo and tests: random operator (Ethereum) keys
//! and node (ENR) keys, an invitation definition with real hashes and a real
//! creator signature, and helpers that accept it the way operators do.

use serde_json::Value;

use crate::sidecar::accept::{AcceptError, OperatorSigner, accept_invitation};
use crate::sidecar::api::{ApiError, ObolApi};
use crate::sidecar::defn::{self, DefnError, Eip712Message, NewDefinition, SecretKey};
use crate::sidecar::select::{config_hash, text};

/// One operator: its Ethereum key and its node's ENR key.
pub struct OperatorFixture {
    /// The operator's Ethereum key (signs acceptances).
    pub operator_key: SecretKey,
    /// The node's ENR key.
    pub node_key: SecretKey,
    /// Checksummed operator address.
    pub address: String,
    /// The node's ENR.
    pub enr: String,
}

impl std::fmt::Debug for OperatorFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorFixture")
            .field("address", &self.address)
            .field("enr", &self.enr)
            .finish_non_exhaustive()
    }
}

impl OperatorFixture {
    /// Fresh random keys.
    pub fn random() -> Result<Self, DefnError> {
        let operator_key = defn::random_key();
        let node_key = defn::random_key();
        Ok(OperatorFixture {
            address: defn::address_of(&operator_key),
            enr: defn::enr_from_key(&node_key)?,
            operator_key,
            node_key,
        })
    }

    /// A signer for this operator.
    pub fn signer(&self) -> OperatorSigner {
        OperatorSigner::new(self.operator_key.clone())
    }
}

/// A cluster invitation and everyone's keys.
#[derive(Debug)]
pub struct ClusterFixture {
    /// The creator's key (also operator 0's address is independent of it).
    pub creator: SecretKey,
    /// The operators, in definition order.
    pub operators: Vec<OperatorFixture>,
    /// The invitation: hashes and creator signature set, no operator signed yet.
    pub definition: Value,
}

/// Hoodi's genesis fork version, the default network of test clusters.
pub const HOODI: [u8; 4] = [0x10, 0x00, 0x09, 0x10];

impl ClusterFixture {
    /// A new cluster of `n` operators with fresh keys.
    pub fn new(
        name: &str,
        n: usize,
        threshold: u64,
        num_validators: u64,
        timestamp: &str,
    ) -> Result<Self, DefnError> {
        let operators = (0..n)
            .map(|_| OperatorFixture::random())
            .collect::<Result<Vec<_>, _>>()?;
        Self::with_operators(name, operators, threshold, num_validators, timestamp)
    }

    /// A new cluster of the given operators.
    pub fn with_operators(
        name: &str,
        operators: Vec<OperatorFixture>,
        threshold: u64,
        num_validators: u64,
        timestamp: &str,
    ) -> Result<Self, DefnError> {
        Self::build(name, operators, threshold, num_validators, timestamp, false)
    }

    /// An ENR-mode cluster: operators known only by ENR, nobody signs but the creator.
    pub fn enr_mode(
        name: &str,
        operators: Vec<OperatorFixture>,
        threshold: u64,
        num_validators: u64,
        timestamp: &str,
    ) -> Result<Self, DefnError> {
        Self::build(name, operators, threshold, num_validators, timestamp, true)
    }

    fn build(
        name: &str,
        operators: Vec<OperatorFixture>,
        threshold: u64,
        num_validators: u64,
        timestamp: &str,
        enr_mode: bool,
    ) -> Result<Self, DefnError> {
        let creator = defn::random_key();
        let withdrawal = defn::address_of(&creator);
        let spec = NewDefinition {
            name: name.to_string(),
            operators: operators.iter().map(|o| o.address.clone()).collect(),
            enrs: enr_mode.then(|| operators.iter().map(|o| o.enr.clone()).collect()),
            threshold,
            num_validators,
            fork_version: HOODI,
            fee_recipient: withdrawal.clone(),
            withdrawal_address: withdrawal,
            timestamp: timestamp.to_string(),
        };
        let definition = defn::new_definition(&spec, &creator)?;
        Ok(ClusterFixture {
            creator,
            operators,
            definition,
        })
    }

    /// The creator's checksummed address (for `ACCEPT_INVITATIONS_FROM`).
    pub fn creator_address(&self) -> String {
        defn::address_of(&self.creator)
    }

    /// The lower-case `0x` config hash.
    pub fn config_hash(&self) -> String {
        config_hash(&self.definition).unwrap_or_default()
    }

    /// `def` with operator `i` having accepted with `enr` (signatures by its
    /// operator key) and the definition hash recomputed, as the API stores it.
    pub fn accepted_with(&self, def: &Value, i: usize, enr: &str) -> Result<Value, DefnError> {
        let op = self
            .operators
            .get(i)
            .ok_or_else(|| DefnError(format!("no operator {i}")))?;
        let chain = defn::chain_id(text(def, "fork_version"))?;
        let hash = config_hash(def).ok_or_else(|| DefnError("no config hash".into()))?;
        let mut out = def.clone();
        let entry = out
            .get_mut("operators")
            .and_then(Value::as_array_mut)
            .and_then(|ops| ops.get_mut(i))
            .ok_or_else(|| DefnError(format!("definition has no operator {i}")))?;
        entry["enr"] = Value::String(enr.to_string());
        entry["config_signature"] = Value::String(defn::sign_message(
            &op.operator_key,
            Eip712Message::OperatorConfigHash(&hash, chain),
        )?);
        entry["enr_signature"] = Value::String(defn::sign_message(
            &op.operator_key,
            Eip712Message::Enr(enr, chain),
        )?);
        defn::recompute_definition_hash(&mut out)?;
        Ok(out)
    }

    /// `def` with the listed operators accepted with their own ENRs.
    pub fn accepted_by(&self, def: &Value, which: &[usize]) -> Result<Value, DefnError> {
        let mut d = def.clone();
        for &i in which {
            let enr = self
                .operators
                .get(i)
                .map(|o| o.enr.clone())
                .ok_or_else(|| DefnError(format!("no operator {i}")))?;
            d = self.accepted_with(&d, i, &enr)?;
        }
        Ok(d)
    }

    /// The invitation signed by every operator.
    pub fn fully_signed(&self) -> Result<Value, DefnError> {
        let all: Vec<usize> = (0..self.operators.len()).collect();
        self.accepted_by(&self.definition, &all)
    }

    /// Publishes the invitation through the API as the Launchpad does: the
    /// creator accepts the terms, then `POST /v1/definition`.
    pub async fn publish(&self, api: &ObolApi) -> Result<(), AcceptError> {
        let creator = OperatorSigner::new(self.creator.clone());
        let terms = creator
            .sign_terms()
            .map_err(|e| AcceptError::Definition(e.0))?;
        let fork = text(&self.definition, "fork_version").to_string();
        api.accept_terms(creator.address(), &fork, &terms).await?;
        let chain = defn::chain_id(&fork).map_err(|e| AcceptError::Definition(e.0))?;
        let sig = defn::sign_message(
            &self.creator,
            Eip712Message::CreatorConfigHash(&self.config_hash(), chain),
        )
        .map_err(|e| AcceptError::Definition(e.0))?;
        api.create_definition(&self.definition, &sig)
            .await
            .map_err(AcceptError::Api)?;
        Ok(())
    }

    /// Operator `i` accepts through the API with its own ENR.
    pub async fn accept_via_api(&self, api: &ObolApi, i: usize) -> Result<Value, AcceptError> {
        let op = self
            .operators
            .get(i)
            .ok_or_else(|| AcceptError::Definition(format!("no operator {i}")))?;
        let current = api.definition(&self.config_hash()).await?.ok_or_else(|| {
            AcceptError::Api(ApiError::Status {
                what: "fetching the definition".into(),
                status: 404,
                message: "Cluster definition not found".into(),
            })
        })?;
        let typed = defn::parse_definition(&current).map_err(|e| AcceptError::Definition(e.0))?;
        accept_invitation(api, &op.signer(), &typed, &op.enr).await
    }
}

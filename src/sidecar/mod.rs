//! Sidecar mode: Obol API client, invitation selection, acceptance, retry loop.

//! SSH commit signatures, as git makes them with `gpg.format=ssh`: the
//! commit object without its `gpgsig` header is signed as an SSHSIG
//! (PROTOCOL.sshsig) in the namespace `git` with SHA-512, and the armored
//! signature becomes the commit's `gpgsig` header. `git verify-commit`
//! with an allowed-signers file checks it.
//!
//! The private key is an unencrypted OpenSSH key file (ed25519, or ECDSA
//! P-256/P-384). It is read once at start-up and never shown: its `Debug`
//! and every message name only the file, the algorithm and the public
//! fingerprint.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ssh_key::{HashAlg, LineEnding, PrivateKey};
use zeroize::Zeroizing;

/// The namespace git signs commits in.
const NAMESPACE: &str = "git";

/// A private key that signs the bot's commits.
pub struct SigningKey {
    key: PrivateKey,
    file: PathBuf,
    fingerprint: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SigningKey({} {} from {})",
            self.key.algorithm(),
            self.fingerprint,
            self.file.display()
        )
    }
}

impl SigningKey {
    /// Reads an unencrypted OpenSSH private key from `path` and checks that
    /// it can sign. A missing, unreadable, encrypted, unparsable or
    /// unsupported key is an error naming the file.
    pub fn from_file(path: &Path) -> anyhow::Result<SigningKey> {
        let shown = path.display();
        let text = Zeroizing::new(
            std::fs::read(path).with_context(|| format!("cannot read the signing key {shown}"))?,
        );
        let key = PrivateKey::from_openssh(&*text).map_err(|e| {
            anyhow::anyhow!("{shown} is not an OpenSSH private key ({e}); make one with `ssh-keygen -t ed25519 -N '' -f FILE`")
        })?;
        anyhow::ensure!(
            !key.is_encrypted(),
            "the signing key {shown} is encrypted with a passphrase; imagebump needs an unencrypted key"
        );
        // An algorithm this build cannot sign with fails now, not at the
        // first commit.
        if let Err(e) = key.sign(NAMESPACE, HashAlg::Sha512, b"imagebump signing check") {
            anyhow::bail!(
                "cannot sign with {shown} ({e}); supported keys: ed25519, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384"
            );
        }
        Ok(SigningKey {
            fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
            key,
            file: path.to_path_buf(),
        })
    }

    /// The public key's fingerprint, `SHA256:…` (safe to show).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The armored SSH signature (`-----BEGIN SSH SIGNATURE-----` …) of
    /// `payload` in the namespace `git`.
    pub(crate) fn sign(&self, payload: &[u8]) -> anyhow::Result<String> {
        let sig = self
            .key
            .sign(NAMESPACE, HashAlg::Sha512, payload)
            .map_err(|e| anyhow::anyhow!("signing with {}: {e}", self.file.display()))?;
        sig.to_pem(LineEnding::LF)
            .map_err(|e| anyhow::anyhow!("encoding the signature: {e}"))
    }
}

//! A real registry process for tests, and image pushing.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use imagebump::domain::Digest;
use serde_json::json;

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
const START_DEADLINE: Duration = Duration::from_secs(30);

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// A `docker-registry serve` child on 127.0.0.1:<free port>, storing in a
/// temporary directory. Killed on drop.
pub struct TestRegistry {
    child: Child,
    port: u16,
    basic: Option<(String, String)>,
    /// Where the harness's pushes go (`host:port`), when not straight to
    /// the registry: a proxy in front of it ([`Self::push_through`]).
    push_host: Option<String>,
    http: reqwest::Client,
    /// The registry's stdout and stderr (and access log, if enabled).
    log_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TestRegistry {
    /// An anonymous registry.
    pub fn start() -> TestRegistry {
        Self::launch(None, None, false)
    }

    /// An anonymous registry that logs every request it answers, so a test
    /// can count what reached it ([`Self::tag_list_requests`]).
    pub fn start_with_access_log() -> TestRegistry {
        Self::launch(None, None, true)
    }

    /// An anonymous registry that sends its notifications to `url` with
    /// `Authorization: <authorization>` (CNCF Distribution `notifications`).
    pub fn start_with_notifications(url: &str, authorization: &str) -> TestRegistry {
        Self::launch(
            None,
            Some((url.to_string(), authorization.to_string())),
            false,
        )
    }

    /// A registry that requires `user`/`pass` (htpasswd, bcrypt). The
    /// harness's own pushes authenticate with them.
    pub fn start_with_htpasswd(user: &str, pass: &str) -> TestRegistry {
        Self::launch(Some((user.to_string(), pass.to_string())), None, false)
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn launch(
        basic: Option<(String, String)>,
        notify: Option<(String, String)>,
        access_log: bool,
    ) -> TestRegistry {
        if !std::path::Path::new(REGISTRY_BIN).exists() {
            panic!(
                "{REGISTRY_BIN} is missing: the registry tests need a real registry. \
                 Run `.ci/run` or `apt-get install docker-registry`."
            );
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).expect("storage dir");
        let port = super::free_port();
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: {no_access_log}\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: imagebump-test-secret\n",
            storage = storage.display(),
            no_access_log = !access_log,
        );
        if let Some((user, pass)) = &basic {
            let hash = bcrypt::hash_with_result(pass, 4)
                .expect("bcrypt")
                .format_for_version(bcrypt::Version::TwoY);
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).expect("write htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: imagebump-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        if let Some((url, authorization)) = &notify {
            config.push_str(&format!(
                "notifications:\n  endpoints:\n    - name: imagebump\n      url: {url}\n      headers:\n        Authorization: [\"{authorization}\"]\n      timeout: 2s\n      threshold: 5\n      backoff: 200ms\n"
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write registry config");
        let log_path = dir.path().join("registry.log");
        let log = std::fs::File::create(&log_path).expect("registry log");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config_path)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {REGISTRY_BIN}: {e}"));
        let mut registry = TestRegistry {
            child,
            port,
            basic,
            push_host: None,
            http: reqwest::Client::new(),
            log_path,
            _dir: dir,
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&mut self) {
        let log_path = self.log_path.clone();
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("the test registry exited with {status} before answering:\n{log}");
            }
            if let Some(status) = probe(self.port)
                && (status == 200 || status == 401)
            {
                return;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!(
                    "the test registry did not answer GET /v2/ within {START_DEADLINE:?}:\n{log}"
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Tag-list requests (`GET /v2/<repo>/tags/list`, any page) the
    /// registry has answered so far, from its own access log. Needs
    /// [`Self::start_with_access_log`]. The registry writes a request's
    /// line before the (small) answer leaves it.
    pub fn tag_list_requests(&self, repo: &str) -> usize {
        let log = std::fs::read_to_string(&self.log_path).expect("registry log");
        let needle = format!("\"GET /v2/{repo}/tags/list");
        log.lines().filter(|l| l.contains(&needle)).count()
    }

    /// `HEAD /v2/<repo>/manifests/<reference>` requests answered so far
    /// (access log, as [`Self::tag_list_requests`]).
    pub fn manifest_heads(&self, repo: &str, reference: &str) -> usize {
        self.access_log_lines(&format!("\"HEAD /v2/{repo}/manifests/{reference} "))
    }

    /// Every `/v2/…` request answered so far, of any method, the harness's
    /// own pushes included (access log, as [`Self::tag_list_requests`]).
    pub fn api_requests(&self) -> usize {
        self.access_log_lines(" /v2/")
    }

    fn access_log_lines(&self, needle: &str) -> usize {
        let log = std::fs::read_to_string(&self.log_path).expect("registry log");
        log.lines().filter(|l| l.contains(needle)).count()
    }

    /// Sends the harness's pushes through `host` (a proxy in front of the
    /// registry), so that the registry sees, and its notifications name,
    /// the host clients behind that proxy use.
    pub fn push_through(&mut self, host: &str) {
        self.push_host = Some(host.to_string());
    }

    fn url(&self, path: &str) -> String {
        let host = self.push_host.clone().unwrap_or_else(|| self.host());
        format!("http://{host}{path}")
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, url);
        match &self.basic {
            Some((user, pass)) => request.basic_auth(user, Some(pass)),
            None => request,
        }
    }

    /// Uploads a blob (monolithic: POST, then PUT with `digest=`).
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> Digest {
        let digest = Digest::sha256_of(bytes);
        let start = self
            .request(
                reqwest::Method::POST,
                &self.url(&format!("/v2/{repo}/blobs/uploads/")),
            )
            .send()
            .await
            .expect("start blob upload");
        assert_eq!(
            start.status(),
            202,
            "start blob upload: {:?}",
            start.text().await
        );
        let location = start
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("upload Location")
            .to_string();
        let base = reqwest::Url::parse(&self.url("/")).expect("base url");
        let mut url = base.join(&location).expect("upload url");
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let put = self
            .request(reqwest::Method::PUT, url.as_str())
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .expect("finish blob upload");
        assert_eq!(
            put.status(),
            201,
            "finish blob upload: {:?}",
            put.text().await
        );
        digest
    }

    /// PUTs a manifest under `reference` (tag or digest); returns its digest.
    pub async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Digest {
        let digest = Digest::sha256_of(body);
        let put = self
            .request(
                reqwest::Method::PUT,
                &self.url(&format!("/v2/{repo}/manifests/{reference}")),
            )
            .header("content-type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .expect("put manifest");
        let status = put.status();
        let header = put
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        assert_eq!(
            status,
            201,
            "put manifest {repo}:{reference}: {:?}",
            put.text().await
        );
        assert_eq!(
            header.as_deref(),
            Some(digest.as_str()),
            "registry digest of {repo}:{reference}"
        );
        digest
    }

    /// Uploads the blobs of a single-platform image (distinct per `label`)
    /// and returns its manifest bytes, not yet pushed.
    /// `created` is the config's build time (RFC 3339), or none.
    async fn platform_manifest(
        &self,
        repo: &str,
        label: &str,
        arch: &str,
        created: Option<&str>,
    ) -> Vec<u8> {
        let layer = format!("layer of {repo} {label} {arch}").into_bytes();
        let layer_digest = self.push_blob(repo, &layer).await;
        let mut config = json!({
            "architecture": arch,
            "os": "linux",
            "config": { "Labels": { "imagebump.test": label } },
            "rootfs": { "type": "layers", "diff_ids": [layer_digest.as_str()] },
        });
        if let Some(created) = created {
            config["created"] = json!(created);
        }
        let config = config.to_string().into_bytes();
        let config_digest = self.push_blob(repo, &config).await;
        json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": { "mediaType": OCI_CONFIG, "digest": config_digest.as_str(), "size": config.len() },
            "layers": [ { "mediaType": OCI_LAYER, "digest": layer_digest.as_str(), "size": layer.len() } ],
        })
        .to_string()
        .into_bytes()
    }

    /// Pushes a tiny single-platform OCI image as `repo:tag` and returns
    /// its manifest digest. Each tag gets a distinct image.
    pub async fn push_image(&self, repo: &str, tag: &str) -> Digest {
        self.push_image_created(repo, tag, None).await
    }

    /// [`push_image`](Self::push_image) with the config's `created` time
    /// (RFC 3339), as build tools write it.
    pub async fn push_image_created(&self, repo: &str, tag: &str, created: Option<&str>) -> Digest {
        let manifest = self.platform_manifest(repo, tag, "amd64", created).await;
        self.push_manifest(repo, tag, OCI_MANIFEST, &manifest).await
    }

    /// Pushes two platform images (amd64, arm64) and an OCI image index
    /// over them as `repo:tag`; returns the index digest.
    pub async fn push_index(&self, repo: &str, tag: &str) -> Digest {
        self.push_index_created(repo, tag, [None, None]).await
    }

    /// [`push_index`](Self::push_index) with each platform's (amd64,
    /// arm64) config `created` time.
    pub async fn push_index_created(
        &self,
        repo: &str,
        tag: &str,
        created: [Option<&str>; 2],
    ) -> Digest {
        let mut entries = Vec::new();
        for (arch, created) in ["amd64", "arm64"].into_iter().zip(created) {
            let manifest = self.platform_manifest(repo, tag, arch, created).await;
            let size = manifest.len();
            let reference = Digest::sha256_of(&manifest).to_string();
            let digest = self
                .push_manifest(repo, &reference, OCI_MANIFEST, &manifest)
                .await;
            entries.push(json!({
                "mediaType": OCI_MANIFEST,
                "digest": digest.as_str(),
                "size": size,
                "platform": { "architecture": arch, "os": "linux" },
            }));
        }
        let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries })
            .to_string()
            .into_bytes();
        self.push_manifest(repo, tag, OCI_INDEX, &index).await
    }

    /// Pushes one distinct image per tag.
    pub async fn push_tags(&self, repo: &str, tags: &[&str]) {
        for tag in tags {
            self.push_image(repo, tag).await;
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Status of `GET /v2/` on 127.0.0.1:port, if anything answers.
fn probe(port: u16) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request =
        format!("GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).ok()?;
    let text = std::str::from_utf8(&head[..n]).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

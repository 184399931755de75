//! `config get cluster`: the node list for ElastiCache-style auto-discovery clients
//! (the Java, PHP and .NET "cluster client"s), read from the file given with
//! `-o cluster_config=PATH` and reloaded on SIGHUP.
//!
//! The file lists one node per line as `hostname|ip|port` (the ip may be empty);
//! blank lines and lines starting with `#` are ignored. The reply's config version starts
//! at 1 and goes up by one each time a reload changes the list, which is what tells
//! clients to reconnect.

use parking_lot::RwLock;
use std::path::{Path, PathBuf};

/// The node list and its version.
#[derive(Debug)]
pub struct Cluster {
    path: PathBuf,
    state: RwLock<(u64, String)>,
}

impl Cluster {
    /// Loads `path`.
    ///
    /// # Errors
    /// The file cannot be read or a line is not `host|ip|port`.
    pub fn load(path: &Path) -> Result<Cluster, String> {
        let nodes = read_nodes(path)?;
        Ok(Cluster {
            path: path.to_path_buf(),
            state: RwLock::new((1, nodes)),
        })
    }

    /// Reads the file again; on error the previous list stays (and the error is returned).
    ///
    /// # Errors
    /// As [`Cluster::load`].
    pub fn reload(&self) -> Result<u64, String> {
        let nodes = read_nodes(&self.path)?;
        let mut state = self.state.write();
        if state.1 != nodes {
            state.0 += 1;
            state.1 = nodes;
        }
        Ok(state.0)
    }

    /// The version and the node line (`host|ip|port` entries separated by spaces).
    pub fn get(&self) -> (u64, String) {
        self.state.read().clone()
    }
}

fn read_nodes(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cluster_config {}: {e}", path.display()))?;
    let mut nodes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.split('|').collect();
        let ok = parts.len() == 3
            && !parts[0].is_empty()
            && !parts[0].contains(' ')
            && !parts[1].contains(' ')
            && parts[2].parse::<u16>().is_ok_and(|p| p > 0);
        if !ok {
            return Err(format!(
                "cluster_config {} line {}: expected hostname|ip|port",
                path.display(),
                i + 1
            ));
        }
        nodes.push(line.to_string());
    }
    Ok(nodes.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_reloads_and_bumps_the_version_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nodes");
        std::fs::write(
            &path,
            "# fleet\na.example|10.0.0.1|11211\n\nb.example||11212\n",
        )
        .unwrap();
        let c = Cluster::load(&path).unwrap();
        assert_eq!(
            c.get(),
            (1, "a.example|10.0.0.1|11211 b.example||11212".into())
        );
        assert_eq!(c.reload(), Ok(1));
        std::fs::write(&path, "a.example|10.0.0.1|11211\n").unwrap();
        assert_eq!(c.reload(), Ok(2));
        std::fs::write(&path, "bad line\n").unwrap();
        assert!(c.reload().is_err());
        assert_eq!(c.get(), (2, "a.example|10.0.0.1|11211".into()));
    }
}

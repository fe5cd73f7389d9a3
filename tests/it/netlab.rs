//! A real NAT for the tests, made of network namespaces: phones in a `lan` namespace with
//! private addresses, a `nat` namespace that masquerades them (nftables, random ports) onto
//! a `wan` link whose other end is in the test's own namespace, where the router listens.
//!
//! ```text
//!  lan ns 192.168.N.10, .11 ── veth ── nat ns 192.168.N.1 | 10.77.N.2 ── veth ── 10.77.N.1 (router)
//! ```
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables, installed by `scripts/ensure-tools`);
//! [`NatLab::create`] says why when the machine cannot make one. Everything it makes is
//! named after the test process and removed on drop.

use std::process::Command;

/// The lab: namespaces and links, removed on drop.
pub struct NatLab {
    /// Namespace of the phones.
    pub lan: String,
    nat: String,
    wan_link: String,
    /// The router's address, in the test's namespace.
    pub router_ip: String,
    /// The NAT's public address: where the phones' packets seem to come from.
    pub public_ip: String,
    /// Private addresses of the phones.
    pub phone_ips: [String; 2],
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl NatLab {
    /// Make the lab, or say why this machine cannot.
    pub fn create() -> Result<NatLab, String> {
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| e.to_string())?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("not root".into());
        }
        for tool in ["ip", "nft"] {
            if Command::new(tool).arg("-V").output().is_err() {
                return Err(format!("{tool} is not installed"));
            }
        }
        let n = std::process::id() % 250 + 1;
        let lab = NatLab {
            lan: format!("swlan{n}"),
            nat: format!("swnat{n}"),
            wan_link: format!("swwan{n}"),
            router_ip: format!("10.77.{n}.1"),
            public_ip: format!("10.77.{n}.2"),
            phone_ips: [format!("192.168.{n}.10"), format!("192.168.{n}.11")],
        };
        lab.build(n)?;
        Ok(lab)
    }

    fn build(&self, n: u32) -> Result<(), String> {
        let (lan, nat, wan) = (&self.lan, &self.nat, &self.wan_link);
        let (wan_peer, lan_out, lan_in) =
            (format!("{wan}p"), format!("swlo{n}"), format!("swli{n}"));
        // a leftover of a crashed run of the same pid would be in the way
        let _ = run(&["ip", "netns", "del", lan]);
        let _ = run(&["ip", "netns", "del", nat]);
        let _ = run(&["ip", "link", "del", wan]);
        run(&["ip", "netns", "add", lan])?;
        run(&["ip", "netns", "add", nat])?;
        run(&[
            "ip", "link", "add", wan, "type", "veth", "peer", "name", &wan_peer,
        ])?;
        run(&["ip", "link", "set", &wan_peer, "netns", nat])?;
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", self.router_ip),
            "dev",
            wan,
        ])?;
        run(&["ip", "link", "set", wan, "up"])?;
        let in_nat = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", nat.as_str()];
            all.extend_from_slice(args);
            run(&all)
        };
        let in_lan = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", lan.as_str()];
            all.extend_from_slice(args);
            run(&all)
        };
        in_nat(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", self.public_ip),
            "dev",
            &wan_peer,
        ])?;
        in_nat(&["ip", "link", "set", &wan_peer, "up"])?;
        in_nat(&["ip", "link", "set", "lo", "up"])?;
        run(&[
            "ip", "link", "add", &lan_out, "type", "veth", "peer", "name", &lan_in,
        ])?;
        run(&["ip", "link", "set", &lan_out, "netns", nat])?;
        run(&["ip", "link", "set", &lan_in, "netns", lan])?;
        in_nat(&[
            "ip",
            "addr",
            "add",
            &format!("192.168.{n}.1/24"),
            "dev",
            &lan_out,
        ])?;
        in_nat(&["ip", "link", "set", &lan_out, "up"])?;
        for ip in &self.phone_ips {
            in_lan(&["ip", "addr", "add", &format!("{ip}/24"), "dev", &lan_in])?;
        }
        in_lan(&["ip", "link", "set", &lan_in, "up"])?;
        in_lan(&["ip", "link", "set", "lo", "up"])?;
        in_lan(&[
            "ip",
            "route",
            "add",
            "default",
            "via",
            &format!("192.168.{n}.1"),
        ])?;
        in_nat(&["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])?;
        // masquerade with random ports: the phones' packets come from the NAT's address,
        // from ports they never see
        let rules = format!(
            "table ip nat {{ chain post {{ type nat hook postrouting priority 100; \
             oifname \"{wan_peer}\" masquerade random; }} }}"
        );
        in_nat(&["nft", &rules])?;
        Ok(())
    }
}

impl Drop for NatLab {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.lan]);
        let _ = run(&["ip", "netns", "del", &self.nat]);
        let _ = run(&["ip", "link", "del", &self.wan_link]);
    }
}

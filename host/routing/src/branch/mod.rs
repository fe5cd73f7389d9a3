//! The destination set (Kamailio's `dset`): the branches a request is forked to, each with
//! its own Request-URI, destination (`$du`), Path, send socket and q value.
//!
//! The request's own Request-URI and `$du` make the *main* branch; `append_branch` and
//! `lookup` add the others. `t_relay` consumes the set: what a failure route forks is only
//! what it adds itself (`append_branch`, `lookup` again, `t_next_contacts`), and the main
//! branch goes again only when the route gave it a new Request-URI or destination — the
//! rule of Kamailio's `ruri_is_new`.

use crate::context::RouteContext;

use crate::tm::state::TmError;

pub(crate) mod target;
pub use target::*;

impl RouteContext {
    /// The main branch: the Request-URI and destination of the request as the route left
    /// them.
    pub fn main_branch(&self) -> Branch {
        Branch {
            uri: self.current_ruri().unwrap_or_default(),
            dst_uri: self.dst_uri.clone(),
            path: self.path.clone(),
            socket: self.force_socket,
            conn: self.conn,
            no_connect: self.no_connect,
            q: self.ruri_q,
        }
    }

    /// Make `b` the main branch: Request-URI, `$du`, Path, socket, connection (a branch route
    /// runs with its branch's, `t_next_contacts` loads the next contact). The Request-URI
    /// counts as new: `t_relay` sends it again.
    pub fn set_main_branch(&mut self, b: Branch) {
        self.new_ruri = Some(b.uri);
        self.dst_uri = b.dst_uri;
        self.path = b.path;
        self.force_socket = b.socket;
        self.conn = b.conn;
        self.no_connect = b.no_connect;
        self.ruri_q = b.q;
        self.ruri_new = true;
    }

    /// The additional branches (`append_branch`, `lookup`), in order.
    pub fn branches(&self) -> &[Branch] {
        &self.branches
    }

    /// Add a branch for parallel forking.
    pub fn push_branch(&mut self, b: Branch) -> Result<(), TmError> {
        if self.branches.len() + 1 >= MAX_BRANCHES {
            return Err(TmError::Invalid(format!(
                "at most {MAX_BRANCHES} branches per request"
            )));
        }
        self.branches.push(b);
        Ok(())
    }

    /// `append_branch(uri)`: fork to `uri` too. Without a URI the main branch is copied
    /// into the set (Request-URI, `$du`, Path, socket), and the Request-URI counts as
    /// used, so `t_relay` does not send it twice — Kamailio's `append_branch()`.
    pub fn append_branch(&mut self, uri: Option<&str>) -> Result<(), TmError> {
        if !self.msg.is_request() {
            return Err(TmError::NoRequest);
        }
        match uri {
            Some(u) => {
                Self::validate_uri(u)?;
                self.push_branch(Branch {
                    uri: u.to_string(),
                    ..Branch::default()
                })
            }
            None => {
                self.push_branch(self.main_branch())?;
                self.ruri_new = false;
                Ok(())
            }
        }
    }

    /// True when `t_relay` would send the main branch: the Request-URI or `$du` changed
    /// since the last relay, or nothing was relayed yet.
    pub fn ruri_is_new(&self) -> bool {
        self.ruri_new
    }

    /// `t_load_contacts()`: order the main branch (when new) and the branch set for serial
    /// forking by q value, highest first (a stable sort keeps the order of equal ones), and
    /// keep them for `t_next_contacts`; the set is emptied and the main branch counts as
    /// used. With a single destination nothing is loaded and the request can be relayed
    /// as it is. Returns how many contacts were loaded — Kamailio's `t_load_contacts`.
    pub fn t_load_contacts(&mut self) -> Result<usize, TmError> {
        if !self.msg.is_request() {
            return Err(TmError::NoRequest);
        }
        if self.branches.is_empty() || (self.branches.len() == 1 && !self.ruri_new) {
            return Ok(0);
        }
        let mut all = Vec::with_capacity(1 + self.branches.len());
        if self.ruri_new {
            all.push(self.main_branch());
        }
        all.append(&mut self.branches);
        all.sort_by_key(|b| std::cmp::Reverse(b.q.unwrap_or(1000)));
        self.ruri_new = false;
        let n = all.len();
        self.contacts = all;
        Ok(n)
    }

    /// `t_next_contacts()`: take the next group of loaded contacts with the highest q:
    /// the first becomes the main branch, the others are appended to the branch set
    /// (parallel within a group, serial between groups). False when none are left.
    pub fn t_next_contacts(&mut self) -> Result<bool, TmError> {
        if !self.msg.is_request() {
            return Err(TmError::NoRequest);
        }
        if self.contacts.is_empty() {
            return Ok(false);
        }
        let q = self.contacts[0].q.unwrap_or(1000);
        let group = self
            .contacts
            .iter()
            .take_while(|b| b.q.unwrap_or(1000) == q)
            .count();
        let mut taken = self.contacts.drain(..group);
        let first = taken.next().expect("a group has a first contact");
        let rest: Vec<Branch> = taken.collect();
        self.set_main_branch(first);
        for b in rest {
            self.push_branch(b)?;
        }
        Ok(true)
    }

    /// Contacts `t_load_contacts` loaded that `t_next_contacts` has not taken yet.
    pub fn loaded_contacts(&self) -> &[Branch] {
        &self.contacts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_values() {
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1.0"), Some(1000));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("0.5"), Some(500));
        assert_eq!(parse_q("0.125"), Some(125));
        assert_eq!(parse_q("0"), Some(0));
        assert_eq!(parse_q(" 0.7 "), Some(700));
        assert_eq!(parse_q("1.5"), None);
        assert_eq!(parse_q("0.1234"), None);
        assert_eq!(parse_q("2"), None);
        assert_eq!(parse_q("x"), None);
        assert_eq!(parse_q(".5"), None);
    }
}

#[cfg(test)]
mod set_tests {
    use crate::proxy_tests::{ctx_from, invite};
    use crate::pv::PvSpec;
    use crate::tm::{TmError, TmIntent};
    use crate::value::Value;

    fn relayed(c: &mut crate::context::RouteContext) -> Vec<(String, Option<String>)> {
        let intents = c.take_intents();
        let Some(TmIntent::Relay(plans)) = intents.into_iter().next() else {
            panic!("no relay")
        };
        plans
            .into_iter()
            .map(|p| (p.branch.uri, p.branch.dst_uri))
            .collect()
    }

    #[test]
    fn t_relay_consumes_the_set_and_the_main_branch() {
        let mut c = ctx_from(&invite(""));
        c.pv_set(
            &PvSpec::parse("$ru").unwrap(),
            Value::from("sip:bob@10.0.0.5"),
        )
        .unwrap();
        c.append_branch(Some("sip:bob@10.0.0.6")).unwrap();
        c.t_relay(None).unwrap();
        assert_eq!(
            relayed(&mut c),
            [
                ("sip:bob@10.0.0.5".to_string(), None),
                ("sip:bob@10.0.0.6".to_string(), None)
            ]
        );
        // the saved state a failure route starts from forks only what it adds
        let mut failure = c.rerun();
        failure.append_branch(Some("sip:carol@10.0.0.7")).unwrap();
        failure.t_relay(None).unwrap();
        assert_eq!(
            relayed(&mut failure),
            [("sip:carol@10.0.0.7".to_string(), None)]
        );
        // nothing new: an error, not a second fork of what already went
        let mut failure = c.rerun();
        assert!(matches!(
            failure.t_relay(None),
            Err(TmError::NoDestination(_))
        ));
        // a new $du makes the main branch new again (serial forking to another hop)
        let mut failure = c.rerun();
        failure
            .pv_set(&PvSpec::parse("$du").unwrap(), Value::from("sip:10.0.0.8"))
            .unwrap();
        failure.t_relay(None).unwrap();
        assert_eq!(
            relayed(&mut failure),
            [(
                "sip:bob@10.0.0.5".to_string(),
                Some("sip:10.0.0.8".to_string())
            )]
        );
        // an explicit destination, too
        let mut failure = c.rerun();
        failure.t_relay(Some("sip:10.0.0.9")).unwrap();
        assert_eq!(relayed(&mut failure).len(), 1);
    }

    #[test]
    fn append_branch_without_uri_moves_the_main_branch() {
        let mut c = ctx_from(&invite(""));
        c.pv_set(&PvSpec::parse("$du").unwrap(), Value::from("sip:10.0.0.2"))
            .unwrap();
        c.append_branch(None).unwrap();
        assert!(!c.ruri_is_new());
        c.pv_set(
            &PvSpec::parse("$ru").unwrap(),
            Value::from("sip:x@10.0.0.3"),
        )
        .unwrap();
        c.pv_unset(&PvSpec::parse("$du").unwrap()).unwrap();
        c.t_relay(None).unwrap();
        assert_eq!(
            relayed(&mut c),
            [
                ("sip:x@10.0.0.3".to_string(), None),
                (
                    "sip:bob@biloxi.example.com".to_string(),
                    Some("sip:10.0.0.2".to_string())
                ),
            ]
        );
        // the set has a limit
        let mut c = ctx_from(&invite(""));
        for i in 0..11 {
            c.append_branch(Some(&format!("sip:b{i}@10.0.0.1")))
                .unwrap();
        }
        assert!(c.append_branch(Some("sip:one-too-many@10.0.0.1")).is_err());
        assert!(c.append_branch(Some("not a uri")).is_err());
    }

    fn with_q(c: &mut crate::context::RouteContext, uri: &str, q: u16) {
        c.push_branch(super::Branch {
            uri: uri.into(),
            q: Some(q),
            ..Default::default()
        })
        .unwrap();
    }

    #[test]
    fn serial_forking_by_q() {
        let mut c = ctx_from(&invite(""));
        c.set_main_branch(super::Branch {
            uri: "sip:a@10.0.0.1".into(),
            q: Some(500),
            ..Default::default()
        });
        with_q(&mut c, "sip:b@10.0.0.2", 1000);
        with_q(&mut c, "sip:c@10.0.0.3", 500);
        with_q(&mut c, "sip:d@10.0.0.4", 100);
        assert_eq!(c.t_load_contacts(), Ok(4));
        assert!(c.branches().is_empty());
        // the best first, alone
        assert_eq!(c.t_next_contacts(), Ok(true));
        c.t_relay(None).unwrap();
        assert_eq!(relayed(&mut c), [("sip:b@10.0.0.2".to_string(), None)]);
        // then, in the failure route, the next group of equal q in parallel
        let mut f = c.rerun();
        assert_eq!(f.t_next_contacts(), Ok(true));
        f.t_relay(None).unwrap();
        let uris: Vec<String> = relayed(&mut f).into_iter().map(|(u, _)| u).collect();
        assert_eq!(uris, ["sip:a@10.0.0.1", "sip:c@10.0.0.3"]);
        let mut f = f.rerun();
        assert_eq!(f.t_next_contacts(), Ok(true));
        assert_eq!(f.main_branch().uri, "sip:d@10.0.0.4");
        assert_eq!(f.t_next_contacts(), Ok(false), "none left");
        // one destination: nothing to load, relay as it is
        let mut c = ctx_from(&invite(""));
        assert_eq!(c.t_load_contacts(), Ok(0));
        assert_eq!(c.t_next_contacts(), Ok(false));
        // all of one q: one group, a parallel fork
        let mut c = ctx_from(&invite(""));
        with_q(&mut c, "sip:b@10.0.0.2", 1000);
        assert_eq!(c.t_load_contacts(), Ok(2));
        assert_eq!(c.t_next_contacts(), Ok(true));
        assert_eq!(c.branches().len(), 1);
    }
}

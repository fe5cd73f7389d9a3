"""A registrar and proxy for phones, as Kamailio's default config does it, in Python: the
twin of example-plugins/registrar-proxy (Rust). Phones register with digest
authentication (users from the plugin config: ``ha1.NAME`` = the HA1 hashes ``sipwasm
passwd`` prints, or ``user.NAME = "password"``),
call each other through the location table, behind NAT too (nathelper, Contact
aliases), and calls that fail with 486/408/480 go to voicemail when ``voicemail`` is set.
Against toll fraud: ``max_calls`` / ``calls_per_minute`` per user (KSR.dialog), and with
``gateway`` set, numbers go there only with one of ``allow_prefixes`` or for ``granted``
users.
Nobody relays through it: requests to other domains get 403.

Its behaviour is example-plugins/cases/registrar-proxy.toml, the same file as the Rust
one's.
"""

import KSR

FLT_NATS = 5
# nat_uac_test: 16 source port is not the Via port, 2 Via host is not the source, 1 the
# Contact is a private address (Kamailio's default config tests 19)
NAT_TESTS = 16 | 2 | 1


def _list(value):
    """A comma-separated config value as a list."""
    return [p.strip() for p in value.split(",") if p.strip()]


def _is_number(user):
    """A telephone number: ``+`` and digits, or digits."""
    digits = user[1:] if user.startswith("+") else user
    return digits.isdigit() and digits.isascii()


def mod_init():
    return RegistrarProxy()


class RegistrarProxy:
    def __init__(self):
        self.realm = KSR.config.get("realm", "sipwasm.local")
        self.voicemail = KSR.config.get("voicemail", "")
        # name -> (secret, flags): HA1 hashes (flag HA1) or a password
        self.users = {}
        for key in KSR.config.keys():
            if key.startswith("ha1."):
                self.users[key[len("ha1.") :]] = (KSR.config.get(key), KSR.auth.HA1)
            elif key.startswith("user."):
                self.users[key[len("user.") :]] = (KSR.config.get(key), 0)
        self.max_calls = int(KSR.config.get("max_calls", "0") or 0)
        self.calls_per_minute = int(KSR.config.get("calls_per_minute", "0") or 0)
        self.gateway = KSR.config.get("gateway", "")
        self.allow_prefixes = _list(KSR.config.get("allow_prefixes", ""))
        self.granted = _list(KSR.config.get("granted", ""))

    def ksr_request_route(self, msg):
        self.reqinit()
        self.natdetect()
        if KSR.is_CANCEL():
            if KSR.tm.t_check_trans():
                self.relay()
            KSR.x.exit()
        if KSR.siputils.has_totag():
            self.within_dialog()
        if KSR.is_ACK():
            # an ACK without a To tag belongs to nothing
            KSR.x.exit()
        if self.handed_over():
            # the dialog's requests come back this way, to the same flow
            if KSR.is_method_in("ISF"):
                KSR.rr.record_route()
            self.relay()
        self.auth()
        # Route headers of an initial request (a phone's outbound proxy) are not followed
        KSR.hdr.remove("Route")
        if KSR.pv.get("$hdrc(Via)") == 1:
            KSR.hdr.remove("Record-Route")
        if KSR.is_method_in("ISF"):
            KSR.rr.record_route()
        if KSR.is_REGISTER():
            n = KSR.registrar.save("location")
            KSR.xlog.xinfo(f"registered $tU with {n} contact(s) from $si:$sp")
            KSR.x.exit()
        if KSR.pv.is_null("$rU"):
            KSR.sl.send_reply(484, "Address Incomplete")
            KSR.x.exit()
        # the callee's number, for the voicemail route (lookup changes $rU)
        KSR.pv.sets("$avp(oexten)", KSR.pv.get("$rU"))
        if KSR.registrar.lookup("location") < 0:
            self.to_gateway()
        self.relay()

    def to_gateway(self):
        """A number nobody registered: to the gateway, when a user of ours calls it and
        may (an allowed prefix, or granted); 403 when not; 404 for anything else."""
        callee = KSR.pv.get("$rU")
        if not self.gateway or not _is_number(callee):
            KSR.sl.send_reply(404, "Not Found")
            KSR.x.exit()
        caller = KSR.pv.get("$fU")
        allowed = any(callee.startswith(p) for p in self.allow_prefixes) or (
            caller in self.granted
        )
        if not KSR.is_myself_furi() or not allowed:
            KSR.info(f"call from {caller} to {callee} refused: not an allowed destination")
            KSR.sl.send_reply(403, "Forbidden: destination not allowed")
            KSR.x.exit()
        host = self.gateway.removeprefix("sip:")
        KSR.pv.sets("$ru", f"sip:{callee}@{host}")
        self.relay()

    def relay(self):
        """route[RELAY]"""
        if KSR.is_INVITE():
            KSR.tm.t_on_reply("MANAGE_REPLY")
            if self.voicemail:
                KSR.tm.t_on_failure("MANAGE_FAILURE")
        self.relay_or_answer()
        KSR.x.exit()

    @staticmethod
    def relay_or_answer():
        """t_relay, or the reply that fits why it could not."""
        try:
            KSR.tm.t_relay()
        except KSR.Error:
            KSR.sl.send_reply_error()

    def reqinit(self):
        """route[REQINIT]"""
        KSR.force_rport()
        if KSR.maxfwd.process_maxfwd(10) < 0:
            KSR.sl.send_reply(483, "Too Many Hops")
            KSR.x.exit()
        if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.pv.is_null("$rU"):
            # a phone checking that its proxy is alive
            KSR.sl.send_reply(200, "Keepalive")
            KSR.x.exit()

    def natdetect(self):
        """route[NATDETECT]"""
        from_a_phone = KSR.pv.get("$hdrc(Via)") == 1
        if KSR.nathelper.nat_uac_test(NAT_TESTS):
            if KSR.is_REGISTER():
                KSR.nathelper.fix_nated_register()
            KSR.setflag(FLT_NATS)
        if from_a_phone and not KSR.is_REGISTER() and not KSR.pv.is_null("$hdr(Contact)"):
            # the other side's requests of this dialog find the phone where its packets
            # come from (a Contact that is no SIP URI is left as it is)
            self.add_contact_alias()

    @staticmethod
    def add_contact_alias():
        try:
            KSR.nathelper.add_contact_alias()
        except KSR.Error as e:
            KSR.dbg(f"no alias: {e}")

    def within_dialog(self):
        """route[WITHINDLG]"""
        # a Route set this router did not issue is answered 403 and ends the route
        routed = KSR.rr.loose_route()
        if routed in (KSR.rr.ROUTE_SET, KSR.rr.FLOW):
            if KSR.pv.is_null("$du"):
                KSR.nathelper.handle_ruri_alias()
            self.relay()
        if KSR.is_ACK():
            KSR.x.exit()
        KSR.sl.send_reply(404, "Not here")
        KSR.x.exit()

    def authenticate(self, proxy):
        """Check the credentials; challenge when they are missing or wrong (the route then
        ends). The user name when they are good."""
        user = KSR.auth.username(self.realm, proxy)
        secret = self.users.get(user) if user else None
        # an unknown user is challenged like a wrong password: nothing tells who exists
        if secret is None:
            rc = KSR.auth.NO_CREDENTIALS
        elif proxy:
            rc = KSR.auth.pv_proxy_authenticate(self.realm, *secret)
        else:
            rc = KSR.auth.pv_www_authenticate(self.realm, *secret)
        if rc == KSR.auth.OK:
            KSR.auth.consume_credentials()
            return user
        # no log line per failure: the router counts them and logs bans once
        if proxy:
            KSR.auth.proxy_challenge(self.realm)
        else:
            KSR.auth.www_challenge(self.realm)
        KSR.x.exit()

    def handed_over(self):
        """A request another router of the deployment hands over for a phone whose
        connection this router holds (routers sharing registrations, `[state]`): its one
        Route is this router's signed Path entry for that flow, and `loose_route` sends it
        over the flow. The other router authenticated the caller; a forged entry gets 403."""
        if KSR.pv.get("$hdrc(Route)") != 1 or "," in (KSR.pv.get("$hdr(Route)") or ""):
            return False
        uri = KSR.pv.get("$(hdr(Route){nameaddr.uri})") or ""
        if "@" not in uri or ";sig=" not in uri or not KSR.is_myself(uri):
            return False
        return KSR.rr.loose_route() == KSR.rr.FLOW

    def auth(self):
        """route[AUTH]"""
        if KSR.is_REGISTER():
            user = self.authenticate(proxy=False)
            if KSR.pv.get("$tU") != user:
                KSR.sl.send_reply(403, "Forbidden: To does not match your credentials")
                KSR.x.exit()
            return
        if KSR.is_myself_furi():
            user = self.authenticate(proxy=True)
            if KSR.pv.get("$fU") != user:
                KSR.sl.send_reply(403, "Forbidden: From does not match your credentials")
                KSR.x.exit()
            if (
                KSR.is_INVITE()
                and KSR.dialog.limit_calls(user, self.max_calls, self.calls_per_minute)
                != KSR.dialog.OK
            ):
                # the router logs the limit (once a minute per user) and counts it
                KSR.sl.send_reply(403, "Forbidden: too many calls")
                KSR.x.exit()
        if not KSR.is_myself_ruri():
            KSR.sl.send_reply(403, "Not relaying")
            KSR.x.exit()

    def MANAGE_FAILURE(self, msg):
        """failure_route[MANAGE_FAILURE]"""
        if KSR.tm.t_is_canceled():
            KSR.x.exit()
        code = KSR.tm.t_get_status_code()
        if self.voicemail and code in (486, 408, 480):
            # route[TOVOICEMAIL]: one new branch; the contacts that failed are not called
            # again
            host = self.voicemail.removeprefix("sip:")
            user = KSR.pv.get("$avp(oexten)")
            KSR.pv.unset("$du")
            KSR.pv.sets("$ru", f"sip:{user}@{host}")
            KSR.info(f"{user} to voicemail after {code}")
            self.relay_or_answer()
        KSR.x.exit()

    def MANAGE_REPLY(self, msg):
        """onreply_route[MANAGE_REPLY]: a callee behind NAT: the caller's requests of the
        dialog find it through the alias of its Contact (a Contact that is no SIP URI is
        left as it is)"""
        if not KSR.pv.is_null("$hdr(Contact)"):
            self.add_contact_alias()

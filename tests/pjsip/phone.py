#!/usr/bin/env python3
"""A softphone for the integration tests: one PJSIP user agent (pjsua2), driven line by
line.

It is configured the way softphones and desk phones are: an account on a domain, a
registrar, and the router as outbound proxy. The test sends one JSON command per line on
stdin and reads one JSON event per line on stdout:

    {"cmd": "register"}                    -> {"ev": "reg", "code": 200, "expires": 300}
    {"cmd": "call", "to": "sip:bob@dom"}   -> {"ev": "call", "call": 0, "state": "CALLING", ...}
    {"cmd": "answer", "call": 0, "code": 200}
    {"cmd": "hangup", "call": 0}
    {"cmd": "reinvite", "call": 0}
    {"cmd": "request", "call": 0, "method": "OPTIONS"}   -> {"ev": "tsx", "method": ..., "code": ...}
    {"cmd": "message", "to": "sip:bob@dom", "text": "hi"} -> {"ev": "message_status", "code": 200}
    {"cmd": "unregister"}                  -> {"ev": "reg", "code": 200, "expires": 0}
    {"cmd": "quit"}

Incoming calls and messages come as {"ev": "incoming", "call": N, "from": ...} and
{"ev": "message", "from": ..., "text": ...}. Every command is acknowledged with
{"ev": "ok", "cmd": ...} or {"ev": "error", "cmd": ..., "what": ...}. PJSIP's own log goes
to --log (for the test's failure output).
"""

import argparse
import json
import os
import select
import sys
import time

# PJSIP's C code prints to file descriptor 1: events get a copy of it, the rest goes to
# stderr
EVENTS = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr

import pjsua2 as pj  # noqa: E402 - after the descriptor swap


def emit(ev, **fields):
    fields["ev"] = ev
    fields["t"] = round(time.monotonic(), 3)
    EVENTS.write(json.dumps(fields) + "\n")
    EVENTS.flush()


class Call(pj.Call):
    def __init__(self, phone, acc, call_id=pj.PJSUA_INVALID_ID):
        super().__init__(acc, call_id)
        self.phone = phone
        self.reported = set()

    def onCallState(self, prm):
        ci = self.getInfo()
        emit(
            "call",
            call=ci.id,
            state=ci.stateText,
            code=ci.lastStatusCode,
            reason=ci.lastReason,
            remote=ci.remoteUri,
            role="caller" if ci.role == pj.PJSIP_ROLE_UAC else "callee",
        )
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.phone.calls.pop(ci.id, None)

    def onCallMediaState(self, prm):
        ci = self.getInfo()
        active = [
            m.index
            for m in ci.media
            if m.type == pj.PJMEDIA_TYPE_AUDIO and m.status == pj.PJSUA_CALL_MEDIA_ACTIVE
        ]
        emit("media", call=ci.id, active=len(active))

    def onCallTsxState(self, prm):
        e = prm.e
        try:
            tsx = e.body.tsxState.tsx
        except Exception:  # noqa: BLE001 - not every event carries a transaction
            return
        if tsx.role == pj.PJSIP_ROLE_UAC and tsx.statusCode >= 200:
            # a client transaction's final answer, once: an INVITE's 2xx skips COMPLETED
            key = tsx.pjTransaction
            if tsx.state == pj.PJSIP_TSX_STATE_COMPLETED:
                self.reported.add(key)
                emit("tsx", call=self.getId(), method=tsx.method, code=tsx.statusCode)
            elif tsx.state == pj.PJSIP_TSX_STATE_TERMINATED:
                if key not in self.reported:
                    emit("tsx", call=self.getId(), method=tsx.method, code=tsx.statusCode)
                self.reported.discard(key)
        if tsx.role == pj.PJSIP_ROLE_UAS and tsx.state in (
            pj.PJSIP_TSX_STATE_TRYING,
            pj.PJSIP_TSX_STATE_PROCEEDING,
        ):
            emit("request_in", call=self.getId(), method=tsx.method)


class Account(pj.Account):
    def __init__(self, phone):
        super().__init__()
        self.phone = phone

    def onRegState(self, prm):
        info = self.getInfo()
        emit("reg", code=prm.code, reason=prm.reason, expires=info.regExpiresSec)

    def onIncomingCall(self, prm):
        call = Call(self.phone, self, prm.callId)
        ci = call.getInfo()
        self.phone.calls[ci.id] = call
        emit("incoming", call=ci.id, remote=ci.remoteUri)

    def onInstantMessage(self, prm):
        emit("message", remote=prm.fromUri, text=prm.msgBody, type=prm.contentType)

    def onInstantMessageStatus(self, prm):
        emit("message_status", code=prm.code, reason=prm.reason, to=prm.toUri)


class Phone:
    def __init__(self, args):
        self.args = args
        self.calls = {}
        self.buddies = {}
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.userAgent = f"sipwasm-test-phone ({args.user})"
        cfg.logConfig.level = 5
        cfg.logConfig.consoleLevel = 0
        if args.log:
            cfg.logConfig.filename = args.log
        cfg.medConfig.noVad = True
        self.ep.libInit(cfg)
        tc = pj.TransportConfig()
        tc.port = args.port
        tc.boundAddress = args.bind
        if args.public_addr:
            # a phone behind NAT: it puts this address into Via and Contact
            tc.publicAddress = args.public_addr
        kind = {
            "udp": pj.PJSIP_TRANSPORT_UDP,
            "tcp": pj.PJSIP_TRANSPORT_TCP,
            "tls": pj.PJSIP_TRANSPORT_TLS,
        }[args.transport]
        if args.transport == "tls":
            tc.tlsConfig.CaListFile = args.ca or ""
            tc.tlsConfig.verifyServer = bool(args.ca)
            tc.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
            if args.cert:
                # a client certificate, for a listener with client_cert (a trunk)
                tc.tlsConfig.certFile = args.cert
                tc.tlsConfig.privKeyFile = args.key
        self.tid = self.ep.transportCreate(kind, tc)
        self.ep.libStart()
        self.ep.audDevManager().setNullDev()
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:{args.user}@{args.domain}"
        acfg.regConfig.registrarUri = f"sip:{args.domain}"
        acfg.regConfig.registerOnAdd = False
        acfg.regConfig.timeoutSec = args.expires
        acfg.regConfig.retryIntervalSec = 0
        cred = pj.AuthCredInfo("digest", "*", args.user, 0, args.password)
        acfg.sipConfig.authCreds.append(cred)
        acfg.sipConfig.proxies.append(args.proxy)
        acfg.sipConfig.transportId = self.tid
        acfg.natConfig.contactRewriteUse = 1 if args.contact_rewrite else 0
        acfg.natConfig.viaRewriteUse = 1 if args.contact_rewrite else 0
        acfg.natConfig.sdpNatRewriteUse = 0
        acfg.natConfig.sipOutboundUse = 0 if args.no_outbound else 1
        acfg.natConfig.udpKaIntervalSec = args.keepalive
        acfg.mediaConfig.transportConfig.boundAddress = args.bind
        self.acc = Account(self)
        self.acc.create(acfg)
        emit("ready", user=args.user, transport=args.transport, port=self.local_port())

    def local_port(self):
        try:
            return self.ep.transportGetInfo(self.tid).localName.split(":")[-1]
        except Exception:  # noqa: BLE001
            return None

    def call_of(self, c):
        call = self.calls.get(c["call"])
        if call is None:
            raise KeyError(f"no call {c['call']}")
        return call

    def run(self, c):
        cmd = c["cmd"]
        if cmd == "register":
            self.acc.setRegistration(True)
        elif cmd == "unregister":
            self.acc.setRegistration(False)
        elif cmd == "call":
            call = Call(self, self.acc)
            prm = pj.CallOpParam(True)
            call.makeCall(c["to"], prm)
            self.calls[call.getId()] = call
            emit("calling", call=call.getId(), to=c["to"])
        elif cmd == "answer":
            prm = pj.CallOpParam()
            prm.statusCode = c.get("code", 200)
            self.call_of(c).answer(prm)
        elif cmd == "hangup":
            prm = pj.CallOpParam()
            if "code" in c:
                prm.statusCode = c["code"]
            self.call_of(c).hangup(prm)
        elif cmd == "reinvite":
            prm = pj.CallOpParam(True)
            prm.opt.flag = pj.PJSUA_CALL_UNHOLD
            # right after answering a re-INVITE, PJSIP refuses to send one until the ACK of
            # its 200 is in (a moment later): let the stack run and try again, for 2 s
            for attempt in range(100):
                try:
                    self.call_of(c).reinvite(prm)
                    break
                except pj.Error:
                    if attempt == 99:
                        raise
                    self.ep.libHandleEvents(20)
        elif cmd == "request":
            prm = pj.CallSendRequestParam()
            prm.method = c["method"]
            self.call_of(c).sendRequest(prm)
        elif cmd == "message":
            to = c["to"]
            buddy = self.buddies.get(to)
            if buddy is None:
                bc = pj.BuddyConfig()
                bc.uri = to
                bc.subscribe = False
                buddy = pj.Buddy()
                buddy.create(self.acc, bc)
                self.buddies[to] = buddy
            prm = pj.SendInstantMessageParam()
            prm.content = c["text"]
            buddy.sendInstantMessage(prm)
        elif cmd == "quit":
            return False
        else:
            raise ValueError(f"unknown command {cmd}")
        emit("ok", cmd=cmd)
        return True

    def loop(self):
        buf = b""
        fd = sys.stdin.fileno()
        os.set_blocking(fd, False)
        running = True
        while running:
            self.ep.libHandleEvents(10)
            ready, _, _ = select.select([fd], [], [], 0)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf and running:
                line, buf = buf.split(b"\n", 1)
                if not line.strip():
                    continue
                c = json.loads(line)
                try:
                    running = self.run(c)
                except Exception as e:  # noqa: BLE001 - reported to the test
                    emit("error", cmd=c.get("cmd"), what=str(e))
        self.shutdown()

    def shutdown(self):
        try:
            self.ep.hangupAllCalls()
            for _ in range(20):
                self.ep.libHandleEvents(10)
        finally:
            self.calls.clear()
            self.buddies.clear()
            self.acc.shutdown()
            self.ep.libDestroy()
        emit("bye")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--domain", required=True)
    p.add_argument("--proxy", required=True, help="outbound proxy URI, with ;lr")
    p.add_argument("--transport", choices=["udp", "tcp", "tls"], default="udp")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--bind", default="127.0.0.1", help="local address of SIP and media")
    p.add_argument("--public-addr", default="", help="address to claim in Via/Contact (NAT)")
    p.add_argument("--ca", default="", help="CA file to verify the router's TLS certificate")
    p.add_argument("--cert", default="", help="client certificate (PEM) for TLS")
    p.add_argument("--key", default="", help="its private key (PEM)")
    p.add_argument("--expires", type=int, default=300)
    p.add_argument("--keepalive", type=int, default=0, help="UDP keep-alive interval, s")
    p.add_argument("--no-outbound", action="store_true", help="no RFC 5626 (;ob, reg-id)")
    p.add_argument("--contact-rewrite", action="store_true",
                   help="learn the public address from the registrar's Via (PJSIP default)")
    p.add_argument("--log", default="")
    args = p.parse_args()
    Phone(args).loop()


if __name__ == "__main__":
    main()

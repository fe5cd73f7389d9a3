-- The harness's proxy.cfg request_route in Lua (KEMI): Max-Forwards check, ACKs of our
-- negative replies absorbed, every request relayed statefully to the callee. UAS_PORT is
-- replaced by the bench script.
function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.send_reply(483, "Too Many Hops")
		return 1
	end
	if KSR.is_ACK() and KSR.tm.t_check_trans() > 0 then
		KSR.tm.t_relay()
		return 1
	end
	KSR.pv.sets("$du", "sip:127.0.0.1:UAS_PORT")
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
	return 1
end

# shellcheck shell=bash
# Direct-path measurements in the lab (root), for builds that have the direct path
# (issue 5, detected by `ztna status`):
#   direct_idle_start/finish  an idle session on the direct path for 300 s (full run):
#                             keepalive bytes per second, and the path still direct
#   sec_fallback              cut the direct path mid-transfer: time to traffic on the
#                             relay, stream bytes lost
#   sec_time_to_direct        >= 20 sessions per cone NAT pair: time to the direct path
#                             against the protocol floor (2.5 relay RTT + 1 direct RTT)

direct_idle_start() {
	have_direct && return
	skip_row idle-direct "idle cost of a session on the direct path" "$(direct_missing)" "<= 10 B/s"
	skip_row idle-direct-alive "direct path alive after 300 s idle" "$(direct_missing)" "alive"
}

direct_idle_finish() { :; }

sec_fallback() {
	have_direct && return
	skip_row fallback-time "fallback: direct path cut to traffic on the relay" "$(direct_missing)" "< 2 s"
	skip_row fallback-lost "fallback: stream bytes lost" "$(direct_missing)" "0, no TCP reset"
}

sec_time_to_direct() {
	have_direct && return
	skip_row time-to-direct "time to direct, cone NAT pairs" "$(direct_missing)" "<= floor + 100 ms"
}

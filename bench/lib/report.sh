# shellcheck shell=bash
# The report of bench/run.sh: the table (stdout and $OUT/table.txt), the JSON file
# ($OUT/results.json) and the RTT plot ($OUT/rtt.png, $OUT/rtt.svg).

report_table() {
	awk -F'\t' '
	function show(v, u) { return v == "-" || v == "" ? "-" : (u == "-" || u == "" ? v : v " " u) }
	BEGIN {
		printf "%-52s %-16s %-38s %-6s %-26s %s\n", "metric", "value", "baseline (same run)", "ratio", "goal (docs/design.md)", "verdict"
		printf "%-52s %-16s %-38s %-6s %-26s %s\n", "------", "-----", "-------------------", "-----", "----------------", "-------"
	}
	{
		base = $5 == "-" ? "-" : $5 ": " show($6, $4)
		printf "%-52s %-16s %-38s %-6s %-26s %s\n", $2, show($3, $4), base, $7, $8, $9
	}' "$ROWS"
}

# Details (min..max over the repetitions, notes) below the table.
report_details() {
	awk -F'\t' '$10 != "-" && $10 != "" { printf "  %s: %s\n", $2, $10 }' "$ROWS"
}

json_str() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | awk '{printf "%s", $0}'; }

report_json() {
	local file=$1
	{
		printf '{\n  "generated": "%s",\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		printf '  "quick": %s,\n  "root": %s,\n' "$([ -n "$QUICK_MODE" ] && echo true || echo false)" \
			"$([ "$(id -u)" = 0 ] && echo true || echo false)"
		printf '  "machine": {"cpus": %s, "kernel": "%s", "model": "%s"},\n' "$NCPU" \
			"$(json_str "$(uname -r)")" "$(json_str "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)")"
		printf '  "pinning": "%s",\n' "$(json_str "$PINNING")"
		printf '  "seconds": %s,\n' "$(($(date +%s) - T_START))"
		printf '  "measured": %s, "skipped": %s, "failed": %s,\n' \
			"$(awk -F'\t' '$9 != "skipped" && $9 != "failed"' "$ROWS" | wc -l)" "$N_SKIPPED" "$N_FAILED"
		printf '  "rows": [\n'
		awk -F'\t' '
		function q(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return "\"" s "\"" }
		function n(s) { return (s ~ /^-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?$/) ? s : (s == "-" || s == "" ? "null" : q(s)) }
		{
			printf "%s    {\"id\": %s, \"metric\": %s, \"value\": %s, \"unit\": %s, \"baseline\": %s, \"baseline_value\": %s, \"ratio\": %s, \"goal\": %s, \"verdict\": %s, \"detail\": %s}",
				(NR > 1 ? ",\n" : ""), q($1), q($2), n($3), q($4), q($5), n($6), n($7), q($8), q($9), q($10)
		}
		END { printf "\n" }' "$ROWS"
		printf '  ]\n}\n'
	} >"$file"
}

# The RTT distributions (CDFs) from the samples in $RAW: one panel per size, lab
# without added delay, and the delayed lab if it ran.
report_plot() {
	local term files=() f
	command -v gnuplot >/dev/null || { note "no gnuplot: no plot"; return 1; }
	for f in "$RAW"/rtt-*.txt; do [ -s "$f" ] && files+=("$f"); done
	[ ${#files[@]} -gt 0 ] || { note "no RTT samples: no plot"; return 1; }
	for term in png svg; do
		gnuplot -e "raw='$RAW'; out='$OUT/rtt.$term'; fmt='$term'" bench/plot.gp 2>"$TMP/gnuplot.err" ||
			{ note "gnuplot failed: $(head -n 3 "$TMP/gnuplot.err")"; return 1; }
	done
}

# RTT distributions (CDFs) of the tunnel's direct and relay paths and their
# baselines, from bench/run.sh's samples (one RTT in microseconds per line):
#   gnuplot -e "raw='build/bench/raw'; out='build/bench/rtt.png'; fmt='png'" bench/plot.gp
# Panels: the lab without added delay (64 B, 1200 B) and, when it ran, the lab with
# emulated delays (10 ms access links, 25 ms to the relay).
if (fmt eq 'png') { set terminal pngcairo size 1400,1000 font ',10' } else { set terminal svg size 1400,1000 font ',10' }
set output out
have(f) = system(sprintf("test -s '%s' && echo 1 || echo 0", f)) + 0
file(lab, size, v) = sprintf('%s/rtt-%s-%s-%s.txt', raw, lab, size, v)
variants = 'raw direct relay fwd'
title_of(v) = v eq 'raw' ? 'raw UDP (baseline)' : v eq 'direct' ? 'tunnel, direct' : \
	v eq 'relay' ? 'tunnel, relay' : 'udpfwd on the relay host (relay baseline)'
color_of(v) = v eq 'raw' ? '#555555' : v eq 'direct' ? '#1f77b4' : v eq 'relay' ? '#d62728' : '#ff7f0e'
dash_of(v) = (v eq 'raw' || v eq 'fwd') ? 2 : 1
hnodelay = have(file('nodelay', '64', 'raw'))
hdelay = have(file('delay', '64', 'raw'))
labs = (hnodelay ? 'nodelay ' : '') . (hdelay ? 'delay' : '')
set multiplot layout words(labs), 2 title 'ztna RTT distributions (make bench)'
set ylabel 'fraction of pings'
set yrange [0:1]
set grid
set key top left
do for [lab in labs] {
	if (lab eq 'nodelay') {
		set logscale x
		set xlabel 'round-trip time (us, log scale)'
		sc = 1.0
	} else {
		unset logscale x
		set xlabel 'round-trip time (ms)'
		sc = 1000.0
	}
	do for [size in '64 1200'] {
		set title sprintf('%s B datagrams, %s', size, lab eq 'nodelay' ? 'lab links without added delay' : \
			'emulated delays: 40 ms direct / 140 ms relay path')
		plot for [v in variants] (have(file(lab, size, v)) ? file(lab, size, v) : '/dev/null') \
			using ($1 / sc):(1.0) smooth cnormal with lines lw 2 dt dash_of(v) lc rgb color_of(v) title title_of(v)
	}
}
unset multiplot

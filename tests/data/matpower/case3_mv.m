function mpc = case3_mv
%CASE3_MV  A 3-bus radial 20 kV feeder for the network-source tests of v2xcosim.
%   Bus 1 is the slack (the substation); buses 2 and 3 carry loads; both branches are rated.
%   MATPOWER case format version 2.

%% MATPOWER Case Format : Version 2
mpc.version = '2';

%%-----  Power Flow Data  -----%%
%% system MVA base
mpc.baseMVA = 10;

%% bus data
%	bus_i	type	Pd	Qd	Gs	Bs	area	Vm	Va	baseKV	zone	Vmax	Vmin
mpc.bus = [
	1	3	0	0	0	0	1	1	0	20	1	1.1	0.9;
	2	1	1.0	0.3	0	0	1	1	0	20	1	1.1	0.9;
	3	1	0.5	0.1	0	0	1	1	0	20	1	1.1	0.9;
];

%% generator data
%	bus	Pg	Qg	Qmax	Qmin	Vg	mBase	status	Pmax	Pmin
mpc.gen = [
	1	0	0	10	-10	1	10	1	10	0;
];

%% branch data
%	fbus	tbus	r	x	b	rateA	rateB	rateC	ratio	angle	status	angmin	angmax
mpc.branch = [
	1	2	0.01	0.02	0	8	8	8	0	0	1	-360	360;
	2	3	0.02	0.04	0	5	5	5	0	0	1	-360	360;
];

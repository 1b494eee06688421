{
	"patcher": {
		"fileversion": 1,
		"appversion": {
			"major": 8,
			"minor": 5,
			"revision": 0,
			"architecture": "x64",
			"modernui": 1
		},
		"classnamespace": "box",
		"rect": [ 100.0, 100.0, 1000.0, 760.0 ],
		"openinpresentation": 0,
		"default_fontsize": 12.0,
		"default_fontface": 0,
		"default_fontname": "Arial",
		"gridonopen": 1,
		"gridsize": [ 15.0, 15.0 ],
		"description": "LatentVJ control and frames for Max: OSC to latentvj serve, jit.net.recv for its frames",
		"boxes": [
			{
				"box": {
					"id": "obj-1",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 20.0, 10.0, 760.0, 36.0 ],
					"text": "LatentVJ for Max: control over OSC (udpsend -> 127.0.0.1:9000), echoes and status back on udpreceive 9003, frames over jit.net.recv 7474. Start the server with: latentvj serve --jitter 127.0.0.1:7474   (docs/max.md)",
					"linecount": 2,
					"fontface": 1
				}
			},
			{
				"box": {
					"id": "obj-2",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 20.0, 700.0, 140.0, 22.0 ],
					"text": "udpsend 127.0.0.1 9000"
				}
			},
			{
				"box": {
					"id": "obj-3",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 165.0, 700.0, 320.0, 20.0 ],
					"text": "every /lvj/... message box above ends here, at LatentVJ's OSC port"
				}
			},
			{
				"box": {
					"id": "obj-4",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "bang" ],
					"patching_rect": [ 20.0, 60.0, 60.0, 22.0 ],
					"text": "loadbang"
				}
			},
			{
				"box": {
					"id": "obj-5",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 20.0, 90.0, 130.0, 22.0 ],
					"text": "/lvj/subscribe 9003"
				}
			},
			{
				"box": {
					"id": "obj-6",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 160.0, 60.0, 260.0, 48.0 ],
					"text": "on load, subscribe udpreceive 9003 (right) to echoes, errors and status; click to redo it after restarting the server",
					"linecount": 3
				}
			},
			{
				"box": {
					"id": "obj-7",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 20.0, 125.0, 200.0, 20.0 ],
					"text": "walk speed (-10 .. 10, 0 pauses)"
				}
			},
			{
				"box": {
					"id": "obj-8",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [ "", "bang" ],
					"patching_rect": [ 20.0, 148.0, 60.0, 22.0 ],
					"format": 6,
					"parameter_enable": 0,
					"minimum": -10.0,
					"maximum": 10.0
				}
			},
			{
				"box": {
					"id": "obj-9",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 90.0, 148.0, 120.0, 22.0 ],
					"text": "/lvj/walk/speed $1"
				}
			},
			{
				"box": {
					"id": "obj-10",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 20.0, 180.0, 100.0, 20.0 ],
					"text": "walk mode"
				}
			},
			{
				"box": {
					"id": "obj-11",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 20.0, 203.0, 150.0, 22.0 ],
					"text": "/lvj/walk/mode drift"
				}
			},
			{
				"box": {
					"id": "obj-12",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 176.0, 203.0, 143.0, 22.0 ],
					"text": "/lvj/walk/mode loop"
				}
			},
			{
				"box": {
					"id": "obj-13",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 325.0, 203.0, 150.0, 22.0 ],
					"text": "/lvj/walk/mode noise"
				}
			},
			{
				"box": {
					"id": "obj-14",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 20.0, 230.0, 178.0, 22.0 ],
					"text": "/lvj/walk/mode keyframes"
				}
			},
			{
				"box": {
					"id": "obj-15",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 204.0, 230.0, 143.0, 22.0 ],
					"text": "/lvj/walk/mode hold"
				}
			},
			{
				"box": {
					"id": "obj-16",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "int" ],
					"patching_rect": [ 20.0, 262.0, 22.0, 22.0 ],
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-17",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 50.0, 262.0, 120.0, 22.0 ],
					"text": "/lvj/walk/freeze $1"
				}
			},
			{
				"box": {
					"id": "obj-18",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 175.0, 262.0, 60.0, 20.0 ],
					"text": "freeze"
				}
			},
			{
				"box": {
					"id": "obj-19",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 250.0, 262.0, 130.0, 22.0 ],
					"text": "/lvj/walk/randomise"
				}
			},
			{
				"box": {
					"id": "obj-20",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 20.0, 295.0, 200.0, 20.0 ],
					"text": "truncation (GAN, 0 .. 2)"
				}
			},
			{
				"box": {
					"id": "obj-21",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [ "", "bang" ],
					"patching_rect": [ 20.0, 318.0, 60.0, 22.0 ],
					"format": 6,
					"parameter_enable": 0,
					"minimum": 0.0,
					"maximum": 2.0
				}
			},
			{
				"box": {
					"id": "obj-22",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 90.0, 318.0, 120.0, 22.0 ],
					"text": "/lvj/truncation $1"
				}
			},
			{
				"box": {
					"id": "obj-23",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 20.0, 350.0, 200.0, 20.0 ],
					"text": "fade (0 black .. 1 image)"
				}
			},
			{
				"box": {
					"id": "obj-24",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 20.0, 373.0, 140.0, 22.0 ],
					"floatoutput": 1,
					"size": 1.0,
					"orientation": 1,
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-25",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [ "", "bang" ],
					"patching_rect": [ 170.0, 373.0, 60.0, 22.0 ],
					"format": 6,
					"parameter_enable": 0,
					"minimum": 0.0,
					"maximum": 1.0
				}
			},
			{
				"box": {
					"id": "obj-26",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 240.0, 373.0, 130.0, 22.0 ],
					"text": "/lvj/output/fade $1"
				}
			},
			{
				"box": {
					"id": "obj-27",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 20.0, 405.0, 240.0, 20.0 ],
					"text": "seed (morphs there over morph time)"
				}
			},
			{
				"box": {
					"id": "obj-28",
					"maxclass": "number",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [ "", "bang" ],
					"patching_rect": [ 20.0, 428.0, 80.0, 22.0 ],
					"parameter_enable": 0,
					"minimum": 0
				}
			},
			{
				"box": {
					"id": "obj-29",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 110.0, 428.0, 90.0, 22.0 ],
					"text": "/lvj/seed $1"
				}
			},
			{
				"box": {
					"id": "obj-30",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 220.0, 405.0, 120.0, 20.0 ],
					"text": "morph time (s)"
				}
			},
			{
				"box": {
					"id": "obj-31",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [ "", "bang" ],
					"patching_rect": [ 220.0, 428.0, 60.0, 22.0 ],
					"format": 6,
					"parameter_enable": 0,
					"minimum": 0.0,
					"maximum": 60.0
				}
			},
			{
				"box": {
					"id": "obj-32",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 285.0, 428.0, 120.0, 22.0 ],
					"text": "/lvj/morph/time $1"
				}
			},
			{
				"box": {
					"id": "obj-33",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 20.0, 462.0, 300.0, 20.0 ],
					"text": "preset slot (1 .. 999), then click store or recall"
				}
			},
			{
				"box": {
					"id": "obj-34",
					"maxclass": "number",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [ "", "bang" ],
					"patching_rect": [ 20.0, 485.0, 60.0, 22.0 ],
					"parameter_enable": 0,
					"minimum": 1,
					"maximum": 999
				}
			},
			{
				"box": {
					"id": "obj-35",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 100.0, 485.0, 40.0, 22.0 ],
					"text": "bang"
				}
			},
			{
				"box": {
					"id": "obj-36",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 140.0, 485.0, 45.0, 20.0 ],
					"text": "store"
				}
			},
			{
				"box": {
					"id": "obj-37",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 200.0, 485.0, 40.0, 22.0 ],
					"text": "bang"
				}
			},
			{
				"box": {
					"id": "obj-38",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 240.0, 485.0, 50.0, 20.0 ],
					"text": "recall"
				}
			},
			{
				"box": {
					"id": "obj-39",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "int" ],
					"patching_rect": [ 100.0, 515.0, 40.0, 22.0 ],
					"text": "i"
				}
			},
			{
				"box": {
					"id": "obj-40",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "int" ],
					"patching_rect": [ 200.0, 515.0, 40.0, 22.0 ],
					"text": "i"
				}
			},
			{
				"box": {
					"id": "obj-41",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 100.0, 545.0, 135.0, 22.0 ],
					"text": "/lvj/preset/store $1"
				}
			},
			{
				"box": {
					"id": "obj-42",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 245.0, 545.0, 140.0, 22.0 ],
					"text": "/lvj/preset/recall $1"
				}
			},
			{
				"box": {
					"id": "obj-43",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 20.0, 580.0, 300.0, 20.0 ],
					"text": "status: ask once, or every 1/rate seconds"
				}
			},
			{
				"box": {
					"id": "obj-44",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 20.0, 603.0, 80.0, 22.0 ],
					"text": "/lvj/status"
				}
			},
			{
				"box": {
					"id": "obj-45",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [ "", "bang" ],
					"patching_rect": [ 120.0, 603.0, 50.0, 22.0 ],
					"format": 6,
					"parameter_enable": 0,
					"minimum": 0.0,
					"maximum": 30.0
				}
			},
			{
				"box": {
					"id": "obj-46",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 180.0, 603.0, 125.0, 22.0 ],
					"text": "/lvj/status/rate $1"
				}
			},
			{
				"box": {
					"id": "obj-47",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 510.0, 60.0, 340.0, 20.0 ],
					"text": "replies: echoes of every change, /lvj/status, /lvj/error"
				}
			},
			{
				"box": {
					"id": "obj-48",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 510.0, 85.0, 100.0, 22.0 ],
					"text": "udpreceive 9003"
				}
			},
			{
				"box": {
					"id": "obj-49",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 630.0, 85.0, 60.0, 22.0 ],
					"text": "print lvj"
				}
			},
			{
				"box": {
					"id": "obj-50",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 3,
					"outlettype": [ "", "", "" ],
					"patching_rect": [ 510.0, 115.0, 170.0, 22.0 ],
					"text": "route /lvj/status /lvj/error"
				}
			},
			{
				"box": {
					"id": "obj-51",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 510.0, 145.0, 75.0, 22.0 ],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-52",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 510.0, 175.0, 340.0, 36.0 ],
					"text": ""
				}
			},
			{
				"box": {
					"id": "obj-53",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 510.0, 213.0, 340.0, 34.0 ],
					"text": "status: model device width height target_fps fps frame mode seed preset latent_dim oscquery_port kind",
					"linecount": 2
				}
			},
			{
				"box": {
					"id": "obj-54",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 600.0, 145.0, 75.0, 22.0 ],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-55",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 510.0, 250.0, 340.0, 22.0 ],
					"text": ""
				}
			},
			{
				"box": {
					"id": "obj-56",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 855.0, 250.0, 70.0, 20.0 ],
					"text": "last error"
				}
			},
			{
				"box": {
					"id": "obj-57",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 6,
					"outlettype": [ "", "", "", "", "", "" ],
					"patching_rect": [ 510.0, 285.0, 420.0, 22.0 ],
					"text": "route /lvj/walk/speed /lvj/walk/mode /lvj/truncation /lvj/output/fade /lvj/seed"
				}
			},
			{
				"box": {
					"id": "obj-58",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 510.0, 335.0, 300.0, 20.0 ],
					"text": "echoes set the controls (set: no output, no loop)"
				}
			},
			{
				"box": {
					"id": "obj-59",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 510.0, 310.0, 75.0, 22.0 ],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-60",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 590.0, 310.0, 75.0, 22.0 ],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-61",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 590.0, 358.0, 90.0, 22.0 ],
					"text": ""
				}
			},
			{
				"box": {
					"id": "obj-62",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 685.0, 358.0, 90.0, 20.0 ],
					"text": "current mode"
				}
			},
			{
				"box": {
					"id": "obj-63",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 670.0, 310.0, 75.0, 22.0 ],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-64",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 750.0, 310.0, 75.0, 22.0 ],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-65",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 830.0, 310.0, 75.0, 22.0 ],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-66",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 510.0, 395.0, 420.0, 20.0 ],
					"text": "frames from latentvj serve --jitter 127.0.0.1:7474 (row 0 of the matrix = top of the picture)"
				}
			},
			{
				"box": {
					"id": "obj-67",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": [ "jit_matrix", "", "" ],
					"patching_rect": [ 510.0, 420.0, 150.0, 22.0 ],
					"text": "jit.net.recv @port 7474"
				}
			},
			{
				"box": {
					"id": "obj-68",
					"maxclass": "jit.pwindow",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [ "jit_matrix", "" ],
					"patching_rect": [ 510.0, 455.0, 256.0, 256.0 ]
				}
			},
			{
				"box": {
					"id": "obj-69",
					"maxclass": "jit.fpsgui",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [ "", "" ],
					"patching_rect": [ 780.0, 455.0, 80.0, 35.0 ],
					"mode": 0
				}
			},
			{
				"box": {
					"id": "obj-70",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"outlettype": [ "", "" ],
					"patching_rect": [ 680.0, 420.0, 100.0, 22.0 ],
					"text": "route connected"
				}
			},
			{
				"box": {
					"id": "obj-71",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "int" ],
					"patching_rect": [ 790.0, 420.0, 22.0, 22.0 ],
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-72",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 815.0, 420.0, 70.0, 20.0 ],
					"text": "connected"
				}
			},
			{
				"box": {
					"id": "obj-73",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 880.0, 455.0, 115.0, 33.0 ],
					"text": "crossfader (0 deck A .. 1 deck B)"
				}
			},
			{
				"box": {
					"id": "obj-74",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 880.0, 492.0, 110.0, 22.0 ],
					"floatoutput": 1,
					"size": 1.0,
					"orientation": 1,
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-75",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 880.0, 518.0, 110.0, 22.0 ],
					"text": "/lvj/crossfade $1"
				}
			},
			{
				"box": {
					"id": "obj-76",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 880.0, 544.0, 110.0, 22.0 ],
					"text": "/lvj/crossfade/go"
				}
			},
			{
				"box": {
					"id": "obj-77",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [ 1010.0, 455.0, 200.0, 33.0 ],
					"text": "tempo: BPM, tap, walk loop in beats, quantise"
				}
			},
			{
				"box": {
					"id": "obj-78",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [ "", "bang" ],
					"patching_rect": [ 1010.0, 492.0, 60.0, 22.0 ],
					"format": 6,
					"parameter_enable": 0,
					"minimum": 20.0,
					"maximum": 999.0
				}
			},
			{
				"box": {
					"id": "obj-79",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 1010.0, 518.0, 110.0, 22.0 ],
					"text": "/lvj/tempo/bpm $1"
				}
			},
			{
				"box": {
					"id": "obj-80",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 1010.0, 544.0, 110.0, 22.0 ],
					"text": "/lvj/tempo/tap"
				}
			},
			{
				"box": {
					"id": "obj-81",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [ "", "bang" ],
					"patching_rect": [ 1130.0, 492.0, 60.0, 22.0 ],
					"format": 6,
					"parameter_enable": 0,
					"minimum": 0.0,
					"maximum": 4096.0
				}
			},
			{
				"box": {
					"id": "obj-82",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 1130.0, 518.0, 120.0, 22.0 ],
					"text": "/lvj/walk/beats $1"
				}
			},
			{
				"box": {
					"id": "obj-83",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 1260.0, 492.0, 120.0, 22.0 ],
					"text": "/lvj/quantise bar"
				}
			},
			{
				"box": {
					"id": "obj-84",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 1260.0, 518.0, 120.0, 22.0 ],
					"text": "/lvj/quantise beat"
				}
			},
			{
				"box": {
					"id": "obj-85",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 1260.0, 544.0, 120.0, 22.0 ],
					"text": "/lvj/quantise off"
				}
			},
			{
				"box": {
					"id": "obj-86",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 1010.0, 580.0, 180.0, 22.0 ],
					"text": "/lvj/midi/learn walk/speed"
				}
			},
			{
				"box": {
					"id": "obj-87",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 1010.0, 606.0, 180.0, 22.0 ],
					"text": "/lvj/midi/learn direction/1"
				}
			},
			{
				"box": {
					"id": "obj-88",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 1010.0, 632.0, 180.0, 22.0 ],
					"text": "/lvj/midi/learn crossfade"
				}
			}
		],
		"lines": [
			{
				"patchline": {
					"source": [ "obj-4", 0 ],
					"destination": [ "obj-5", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-5", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-8", 0 ],
					"destination": [ "obj-9", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-9", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-11", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-12", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-13", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-14", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-15", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-16", 0 ],
					"destination": [ "obj-17", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-17", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-19", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-21", 0 ],
					"destination": [ "obj-22", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-22", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-24", 0 ],
					"destination": [ "obj-26", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-25", 0 ],
					"destination": [ "obj-26", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-26", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-28", 0 ],
					"destination": [ "obj-29", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-29", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-31", 0 ],
					"destination": [ "obj-32", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-32", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-34", 0 ],
					"destination": [ "obj-39", 1 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-34", 0 ],
					"destination": [ "obj-40", 1 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-35", 0 ],
					"destination": [ "obj-39", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-37", 0 ],
					"destination": [ "obj-40", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-39", 0 ],
					"destination": [ "obj-41", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-40", 0 ],
					"destination": [ "obj-42", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-41", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-42", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-44", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-45", 0 ],
					"destination": [ "obj-46", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-46", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-48", 0 ],
					"destination": [ "obj-49", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-48", 0 ],
					"destination": [ "obj-50", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-50", 0 ],
					"destination": [ "obj-51", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-51", 0 ],
					"destination": [ "obj-52", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-50", 1 ],
					"destination": [ "obj-54", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-54", 0 ],
					"destination": [ "obj-55", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-50", 2 ],
					"destination": [ "obj-57", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-57", 0 ],
					"destination": [ "obj-59", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-59", 0 ],
					"destination": [ "obj-8", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-57", 1 ],
					"destination": [ "obj-60", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-60", 0 ],
					"destination": [ "obj-61", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-57", 2 ],
					"destination": [ "obj-63", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-63", 0 ],
					"destination": [ "obj-21", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-57", 3 ],
					"destination": [ "obj-64", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-64", 0 ],
					"destination": [ "obj-25", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-57", 4 ],
					"destination": [ "obj-65", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-65", 0 ],
					"destination": [ "obj-28", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-67", 0 ],
					"destination": [ "obj-68", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-67", 0 ],
					"destination": [ "obj-69", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-67", 2 ],
					"destination": [ "obj-70", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-70", 0 ],
					"destination": [ "obj-71", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-74", 0 ],
					"destination": [ "obj-75", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-75", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-76", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-78", 0 ],
					"destination": [ "obj-79", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-79", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-80", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-81", 0 ],
					"destination": [ "obj-82", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-82", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-83", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-84", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-85", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-86", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-87", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-88", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			}
		]
	}
}

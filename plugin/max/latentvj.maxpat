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
					"numoutlets": 7,
					"outlettype": [ "", "", "", "", "", "", "" ],
					"patching_rect": [ 510.0, 285.0, 420.0, 22.0 ],
					"text": "route /lvj/walk/speed /lvj/walk/mode /lvj/truncation /lvj/output/fade /lvj/seed /lvj/mod/routes"
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
			},
			{
				"box": {
					"id": "obj-89",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 1200.0, 580.0, 180.0, 48.0 ],
					"text": "MIDI learn: click one, then move a control on the server's --midi controller"
				}
			},
			{
				"box": {
					"id": "obj-90",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 1010.0, 658.0, 180.0, 22.0 ],
					"text": "/lvj/midi/learn truncation"
				}
			},
			{
				"box": {
					"id": "obj-91",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 1010.0, 684.0, 180.0, 22.0 ],
					"text": "/lvj/midi/learn output/fade"
				}
			},
			{
				"box": {
					"id": "obj-92",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 1010.0, 710.0, 180.0, 22.0 ],
					"text": "/lvj/midi/learn walk/freeze"
				}
			},
			{
				"box": {
					"id": "obj-93",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 1010.0, 736.0, 180.0, 22.0 ],
					"text": "/lvj/midi/learn walk/randomise"
				}
			},
			{
				"box": {
					"id": "obj-94",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 1010.0, 762.0, 180.0, 22.0 ],
					"text": "/lvj/midi/learn morph/time"
				}
			},
			{
				"box": {
					"id": "obj-95",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 1010.0, 788.0, 180.0, 22.0 ],
					"text": "/lvj/midi/learn crossfade/go"
				}
			},
			{
				"box": {
					"id": "obj-96",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 1010.0, 814.0, 180.0, 22.0 ],
					"text": "/lvj/midi/learn tempo/bpm"
				}
			},
			{
				"box": {
					"id": "obj-97",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 1010.0, 840.0, 180.0, 22.0 ],
					"text": "/lvj/midi/learn tempo/tap"
				}
			},
			{
				"box": {
					"id": "obj-98",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 1010.0, 866.0, 180.0, 22.0 ],
					"text": "/lvj/midi/learn walk/beats"
				}
			},
			{
				"box": {
					"id": "obj-99",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 1010.0, 892.0, 180.0, 22.0 ],
					"text": "/lvj/midi/learn preset/recall 1"
				}
			},
			{
				"box": {
					"id": "obj-100",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 67,
					"outlettype": [ "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "" ],
					"patching_rect": [ 20.0, 760.0, 1200.0, 22.0 ],
					"text": "route /lvj/audio/feature/level /lvj/audio/feature/low /lvj/audio/feature/mid /lvj/audio/feature/high /lvj/audio/feature/mel1 /lvj/audio/feature/mel2 /lvj/audio/feature/mel3 /lvj/audio/feature/mel4 /lvj/audio/feature/mel5 /lvj/audio/feature/mel6 /lvj/audio/feature/mel7 /lvj/audio/feature/mel8 /lvj/audio/feature/flux /lvj/audio/feature/onset /lvj/mod/value/deck/a/walk/speed /lvj/mod/value/deck/b/walk/speed /lvj/mod/value/deck/a/direction/1 /lvj/mod/value/deck/b/direction/1 /lvj/mod/value/deck/a/direction/2 /lvj/mod/value/deck/b/direction/2 /lvj/mod/value/deck/a/direction/3 /lvj/mod/value/deck/b/direction/3 /lvj/mod/value/deck/a/direction/4 /lvj/mod/value/deck/b/direction/4 /lvj/mod/value/deck/a/direction/5 /lvj/mod/value/deck/b/direction/5 /lvj/mod/value/deck/a/direction/6 /lvj/mod/value/deck/b/direction/6 /lvj/mod/value/deck/a/direction/7 /lvj/mod/value/deck/b/direction/7 /lvj/mod/value/deck/a/direction/8 /lvj/mod/value/deck/b/direction/8 /lvj/mod/value/deck/a/truncation /lvj/mod/value/deck/b/truncation /lvj/mod/value/deck/a/temperature /lvj/mod/value/deck/b/temperature /lvj/mod/value/output/fade /lvj/mod/value/crossfade /lvj/mod/value/deck/a/walk/speed /lvj/mod/value/deck/a/direction/1 /lvj/mod/value/deck/a/direction/2 /lvj/mod/value/deck/a/direction/3 /lvj/mod/value/deck/a/direction/4 /lvj/mod/value/deck/a/direction/5 /lvj/mod/value/deck/a/direction/6 /lvj/mod/value/deck/a/direction/7 /lvj/mod/value/deck/a/direction/8 /lvj/mod/value/deck/a/truncation /lvj/mod/value/deck/a/temperature /lvj/mod/value/deck/b/walk/speed /lvj/mod/value/deck/b/direction/1 /lvj/mod/value/deck/b/direction/2 /lvj/mod/value/deck/b/direction/3 /lvj/mod/value/deck/b/direction/4 /lvj/mod/value/deck/b/direction/5 /lvj/mod/value/deck/b/direction/6 /lvj/mod/value/deck/b/direction/7 /lvj/mod/value/deck/b/direction/8 /lvj/mod/value/deck/b/truncation /lvj/mod/value/deck/b/temperature /lvj/mod/value/deck/a/noise /lvj/mod/value/deck/a/sg3/rotate /lvj/mod/value/deck/a/style/mix /lvj/mod/value/deck/b/noise /lvj/mod/value/deck/b/sg3/rotate /lvj/mod/value/deck/b/style/mix"
				}
			},
			{
				"box": {
					"id": "obj-101",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 20.0, 735.0, 480.0, 20.0 ],
					"text": "meters: the live audio's features (latentvj serve --audio or --audio-file)"
				}
			},
			{
				"box": {
					"id": "obj-102",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "int" ],
					"patching_rect": [ 20.0, 790.0, 22.0, 22.0 ],
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-103",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 45.0, 790.0, 340.0, 20.0 ],
					"text": "on: status and live values ten times a second (/lvj/status/rate)"
				}
			},
			{
				"box": {
					"id": "obj-104",
					"maxclass": "newobj",
					"numinlets": 3,
					"numoutlets": 3,
					"outlettype": [ "", "", "" ],
					"patching_rect": [ 20.0, 818.0, 50.0, 22.0 ],
					"text": "sel 1 0"
				}
			},
			{
				"box": {
					"id": "obj-105",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 20.0, 846.0, 130.0, 22.0 ],
					"text": "/lvj/status/rate 10"
				}
			},
			{
				"box": {
					"id": "obj-106",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 160.0, 846.0, 130.0, 22.0 ],
					"text": "/lvj/status/rate 0"
				}
			},
			{
				"box": {
					"id": "obj-107",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 20.0, 880.0, 20.0, 90.0 ],
					"floatoutput": 1,
					"size": 1.0,
					"orientation": 2,
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-108",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 16.0, 972.0, 30.0, 20.0 ],
					"text": "lvl"
				}
			},
			{
				"box": {
					"id": "obj-109",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 50.0, 880.0, 20.0, 90.0 ],
					"floatoutput": 1,
					"size": 1.0,
					"orientation": 2,
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-110",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 46.0, 972.0, 30.0, 20.0 ],
					"text": "low"
				}
			},
			{
				"box": {
					"id": "obj-111",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 80.0, 880.0, 20.0, 90.0 ],
					"floatoutput": 1,
					"size": 1.0,
					"orientation": 2,
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-112",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 76.0, 972.0, 30.0, 20.0 ],
					"text": "mid"
				}
			},
			{
				"box": {
					"id": "obj-113",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 110.0, 880.0, 20.0, 90.0 ],
					"floatoutput": 1,
					"size": 1.0,
					"orientation": 2,
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-114",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 106.0, 972.0, 30.0, 20.0 ],
					"text": "high"
				}
			},
			{
				"box": {
					"id": "obj-115",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 140.0, 880.0, 20.0, 90.0 ],
					"floatoutput": 1,
					"size": 1.0,
					"orientation": 2,
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-116",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 136.0, 972.0, 30.0, 20.0 ],
					"text": "mel1"
				}
			},
			{
				"box": {
					"id": "obj-117",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 170.0, 880.0, 20.0, 90.0 ],
					"floatoutput": 1,
					"size": 1.0,
					"orientation": 2,
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-118",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 166.0, 972.0, 30.0, 20.0 ],
					"text": "mel2"
				}
			},
			{
				"box": {
					"id": "obj-119",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 200.0, 880.0, 20.0, 90.0 ],
					"floatoutput": 1,
					"size": 1.0,
					"orientation": 2,
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-120",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 196.0, 972.0, 30.0, 20.0 ],
					"text": "mel3"
				}
			},
			{
				"box": {
					"id": "obj-121",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 230.0, 880.0, 20.0, 90.0 ],
					"floatoutput": 1,
					"size": 1.0,
					"orientation": 2,
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-122",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 226.0, 972.0, 30.0, 20.0 ],
					"text": "mel4"
				}
			},
			{
				"box": {
					"id": "obj-123",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 260.0, 880.0, 20.0, 90.0 ],
					"floatoutput": 1,
					"size": 1.0,
					"orientation": 2,
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-124",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 256.0, 972.0, 30.0, 20.0 ],
					"text": "mel5"
				}
			},
			{
				"box": {
					"id": "obj-125",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 290.0, 880.0, 20.0, 90.0 ],
					"floatoutput": 1,
					"size": 1.0,
					"orientation": 2,
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-126",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 286.0, 972.0, 30.0, 20.0 ],
					"text": "mel6"
				}
			},
			{
				"box": {
					"id": "obj-127",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 320.0, 880.0, 20.0, 90.0 ],
					"floatoutput": 1,
					"size": 1.0,
					"orientation": 2,
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-128",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 316.0, 972.0, 30.0, 20.0 ],
					"text": "mel7"
				}
			},
			{
				"box": {
					"id": "obj-129",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 350.0, 880.0, 20.0, 90.0 ],
					"floatoutput": 1,
					"size": 1.0,
					"orientation": 2,
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-130",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 346.0, 972.0, 30.0, 20.0 ],
					"text": "mel8"
				}
			},
			{
				"box": {
					"id": "obj-131",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 380.0, 880.0, 20.0, 90.0 ],
					"floatoutput": 1,
					"size": 1.0,
					"orientation": 2,
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-132",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 376.0, 972.0, 30.0, 20.0 ],
					"text": "flx"
				}
			},
			{
				"box": {
					"id": "obj-133",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 410.0, 880.0, 20.0, 90.0 ],
					"floatoutput": 1,
					"size": 1.0,
					"orientation": 2,
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-134",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 406.0, 972.0, 30.0, 20.0 ],
					"text": "ons"
				}
			},
			{
				"box": {
					"id": "obj-135",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 510.0, 880.0, 300.0, 20.0 ],
					"text": "what the routes draw this frame (deck A)"
				}
			},
			{
				"box": {
					"id": "obj-136",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [ "", "bang" ],
					"patching_rect": [ 510.0, 905.0, 60.0, 22.0 ],
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-137",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 510.0, 930.0, 100.0, 20.0 ],
					"text": "walk/speed"
				}
			},
			{
				"box": {
					"id": "obj-138",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [ "", "bang" ],
					"patching_rect": [ 620.0, 905.0, 60.0, 22.0 ],
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-139",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 620.0, 930.0, 100.0, 20.0 ],
					"text": "truncation"
				}
			},
			{
				"box": {
					"id": "obj-140",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [ "", "bang" ],
					"patching_rect": [ 730.0, 905.0, 60.0, 22.0 ],
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-141",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 730.0, 930.0, 100.0, 20.0 ],
					"text": "output/fade"
				}
			},
			{
				"box": {
					"id": "obj-142",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [ "", "bang" ],
					"patching_rect": [ 840.0, 905.0, 60.0, 22.0 ],
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-143",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 840.0, 930.0, 100.0, 20.0 ],
					"text": "crossfade"
				}
			},
			{
				"box": {
					"id": "obj-144",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"outlettype": [ ],
					"patching_rect": [ 900.0, 880.0, 300.0, 20.0 ],
					"text": "routes (/lvj/mod/routes: every change, from anyone)"
				}
			},
			{
				"box": {
					"id": "obj-145",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [ "" ],
					"patching_rect": [ 900.0, 905.0, 75.0, 22.0 ],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-146",
					"maxclass": "textedit",
					"numinlets": 1,
					"numoutlets": 4,
					"outlettype": [ "", "int", "", "" ],
					"patching_rect": [ 900.0, 935.0, 340.0, 80.0 ],
					"parameter_enable": 0,
					"readonly": 1
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
			},
			{
				"patchline": {
					"source": [ "obj-90", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-91", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-92", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-93", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-94", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-95", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-96", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-97", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-98", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-99", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-48", 0 ],
					"destination": [ "obj-100", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 66 ],
					"destination": [ "obj-49", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 66 ],
					"destination": [ "obj-50", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-102", 0 ],
					"destination": [ "obj-104", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-104", 0 ],
					"destination": [ "obj-105", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-104", 1 ],
					"destination": [ "obj-106", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-105", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-106", 0 ],
					"destination": [ "obj-2", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 0 ],
					"destination": [ "obj-107", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 1 ],
					"destination": [ "obj-109", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 2 ],
					"destination": [ "obj-111", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 3 ],
					"destination": [ "obj-113", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 4 ],
					"destination": [ "obj-115", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 5 ],
					"destination": [ "obj-117", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 6 ],
					"destination": [ "obj-119", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 7 ],
					"destination": [ "obj-121", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 8 ],
					"destination": [ "obj-123", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 9 ],
					"destination": [ "obj-125", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 10 ],
					"destination": [ "obj-127", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 11 ],
					"destination": [ "obj-129", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 12 ],
					"destination": [ "obj-131", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 13 ],
					"destination": [ "obj-133", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 14 ],
					"destination": [ "obj-136", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 32 ],
					"destination": [ "obj-138", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 36 ],
					"destination": [ "obj-140", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-100", 37 ],
					"destination": [ "obj-142", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-57", 5 ],
					"destination": [ "obj-145", 0 ]
				}
			},
			{
				"patchline": {
					"source": [ "obj-145", 0 ],
					"destination": [ "obj-146", 0 ]
				}
			}
		]
	}
}

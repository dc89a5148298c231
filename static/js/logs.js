// Live log lines for the install page; loaded only there. The page works
// without it (it refreshes itself); this file only makes lines appear live.
"use strict";

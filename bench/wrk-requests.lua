-- Pre-built raw HTTP requests for wrk (bench/loadgen.py): each sent at most once, or the
-- first one again and again. Arguments: FILE ("\0"-separated requests), REPEAT (1 or 0), THREADS.
-- done() prints one line of JSON for loadgen.py.

local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   local file = assert(io.open(args[1], "rb"))
   local data = file:read("*a")
   file:close()
   repeating = args[2] == "1"
   local share = tonumber(args[3])
   reqs, ran_out, index = {}, false, 0
   local k = 0
   for item in string.gmatch(data, "[^%z]+") do
      -- Each thread takes its own share, so no one-time request is sent twice.
      if repeating or k % share == id then
         table.insert(reqs, item)
      end
      k = k + 1
   end
end

function request()
   if not verified then
      -- wrk parses the first request as HTTP before the run, and refuses a PROXY line (bench/connections.py)
      -- in front of it: show it the request alone. wrk sends that one too; the server closes its connection
      -- unanswered (one read error in the figures).
      verified = true
      if string.sub(reqs[1], 1, 6) == "PROXY " then
         return (string.gsub(reqs[1], "^PROXY [^\r]*\r\n", ""))
      end
   end
   if repeating then
      return reqs[1]
   end
   index = index + 1
   if index > #reqs then
      -- Out of one-time requests: resend the last one and say so (the figures are then void).
      ran_out = true
      index = #reqs
   end
   return reqs[index]
end

function done(summary, latency, requests)
   local out = 0
   for _, thread in ipairs(threads) do
      if thread:get("ran_out") then
         out = 1
      end
   end
   local e = summary.errors
   io.write(string.format('{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "ran_out": %d, '
                             .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
                          summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), out,
                          e.connect, e.read, e.write, e.status, e.timeout))
end

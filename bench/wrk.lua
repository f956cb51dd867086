-- wrk script for bench/http.py.
--   wrk ... -s bench/wrk.lua URL -- METHOD TOKEN BODY_FILE|- LIMIT PATH [PATH ...]
-- Sends METHOD with `Authorization: Bearer TOKEN` (and the JSON body of BODY_FILE) to the
-- paths in turn. LIMIT > 0 stops the thread after that many responses and prints
-- WRK_LIMIT_REACHED (wrk itself would idle to the end of --duration: the runner answers with
-- SIGINT); 0 runs for the whole --duration. `done` prints one line of JSON for the runner.

local paths, headers, body = {}, {}, nil
local index, limit, responses = 0, 0, 0

function init(args)
   local method, token, body_file = args[1], args[2], args[3]
   limit = tonumber(args[4])
   for i = 5, #args do
      paths[#paths + 1] = args[i]
   end
   if token ~= "-" then
      headers["Authorization"] = "Bearer " .. token
   end
   if body_file ~= "-" then
      local file = assert(io.open(body_file, "rb"))
      body = file:read("*a")
      file:close()
      headers["Content-Type"] = "application/json"
   end
   wrk.method, wrk.path, wrk.headers, wrk.body = method, paths[1], headers, body
   -- One path: leave `request` undefined, so wrk sends its prebuilt request (no Lua per
   -- request). Several: build each once, hand them out in turn.
   if #paths > 1 then
      local built = {}
      for i, path in ipairs(paths) do
         built[i] = wrk.format(method, path, headers, body)
      end
      request = function()
         index = index % #built + 1
         return built[index]
      end
   end
   -- Only the memory phases count responses: a `response` function makes wrk hand every
   -- response to Lua, which costs the load generator CPU.
   if limit > 0 then
      response = function()
         responses = responses + 1
         if responses == limit then
            io.write("WRK_LIMIT_REACHED\n")
            io.flush()
            wrk.thread:stop()
         end
      end
   end
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'WRK_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, ' ..
      '"read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d, ' ..
      '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
      summary.requests, summary.duration, summary.bytes, errors.connect, errors.read,
      errors.write, errors.status, errors.timeout, latency:percentile(50),
      latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end

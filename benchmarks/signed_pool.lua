-- wrk script: POST pre-signed Slack requests, each body sent once, and report as one JSON line.
--
-- wrk's LuaJIT has no HMAC, and Slack's signature covers a timestamp the bot refuses after
-- 5 minutes, so `benchmarks/wrk_load.py` writes a pool of requests signed just before the run
-- (one per line: timestamp, signature, body, tab-separated; every body distinct, as the bot may
-- drop a repeated delivery). Thread k of T sends lines k, k+T, k+2T, ... in order; if its share
-- runs out it starts again and counts the wrap, which the run reports.
--
--   WRK_POOL=pool.tsv WRK_THREADS=T wrk -t T -c C -d 3s -s signed_pool.lua http://host:port/slack/events

local threads = {}
local next_index = 0

function setup(thread)
  thread:set("index", next_index)
  next_index = next_index + 1
  table.insert(threads, thread)
end

local requests, position, wrapped = {}, 0, 0

function init(args)
  local total = tonumber(os.getenv("WRK_THREADS"))
  local path = os.getenv("WRK_PATH") or "/slack/events"
  local line_no = 0
  for line in io.lines(os.getenv("WRK_POOL")) do
    if line_no % total == index then
      local ts, sig, body = line:match("^([^\t]+)\t([^\t]+)\t(.*)$")
      requests[#requests + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Slack-Request-Timestamp"] = ts,
        ["X-Slack-Signature"] = sig,
      }, body)
    end
    line_no = line_no + 1
  end
end

function request()
  position = position + 1
  if position > #requests then
    position = 1
    wrapped = wrapped + 1
  end
  return requests[position]
end

function done(summary, latency, _)
  local wraps = 0
  for _, thread in ipairs(threads) do
    wraps = wraps + (thread:get("wrapped") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, ' ..
    '"p99_us": %d, ' ..
    '"max_us": %d, "non2xx": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d, ' ..
    '"wrapped": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99),
    latency.max, e.status, e.connect, e.read, e.write, e.timeout, wraps))
end

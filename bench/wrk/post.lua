-- wrk script: POST /api/bookmarks with a distinct URL on every request.
-- Arguments after `--`: the bearer token ("" for none) and a prefix unique to this run.
local threads_started = 0

function setup(thread)
  threads_started = threads_started + 1
  thread:set("thread_id", threads_started)
end

local words = { "rust", "web", "servers", "latency", "sqlite", "durable", "logs", "realtime", "bookmarks", "science" }

function init(args)
  token = args[1] or ""
  prefix = args[2] or "run"
  counter = 0
  wrk.headers["Content-Type"] = "application/json"
  if token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
end

function request()
  counter = counter + 1
  local word = words[(counter % #words) + 1]
  local body = string.format(
    '{"bookmark":{"title":"A bookmark about %s and more %s %d-%d","url":"https://example.com/%s/%s/%d/%d","description":"","tags":"bench, %s, web"}}',
    word, prefix, thread_id, counter, word, prefix, thread_id, counter, word)
  return wrk.format("POST", nil, nil, body)
end

-- wrk script: cycles through the request paths listed one per line in the file given
-- after `--`, so that a run measures a mix of queries rather than one cached answer.
-- The threads start evenly spread over the list (the number of threads is the second
-- argument), so that a run shorter than the list never asks the same path twice.
local paths = {}
local n = 0
local threads = 0

function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then
      paths[#paths + 1] = line
    end
  end
  local count = tonumber(args[2]) or 1
  n = (thread_index or 0) * math.floor(#paths / count)
end

function request()
  n = n % #paths + 1
  return wrk.format("GET", paths[n])
end

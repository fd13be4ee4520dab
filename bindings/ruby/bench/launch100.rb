# frozen_string_literal: true

# The Ruby half of the overhead benchmark (docs/performance.md, "Ruby binding"): the same
# workload as bench/launch100.rs, through the gem. The example tenant is launched on memory
# providers prepared with its memory-fixtures.yaml and an in-memory state store, no event
# block; every round builds fresh providers, a fresh state store and a fresh engine.
#
#   ruby -I<staged lib> bench/launch100.rb [N] [sequential|threads|latency|all]
#
# - sequential (default): three rounds of N launches (default 100), one tenant after another.
# - threads: N tenants on 1 Ruby thread, then split over 8 Ruby Threads sharing one engine,
#   alternating, three rounds of each. With the GVL released while a run works, 8 threads can
#   use every core; held, they would take as long as 1.
# - latency: the same as threads with 32 tenants and 20 ms of injected latency on every memory
#   provider call, so that the runs mostly wait: 8 threads should take close to 1/8 of 1.
require "provisio"

LAUNCH = File.expand_path("../../../examples/launch-tenant", __dir__)
THREADS = 8
LATENCY_TENANTS = 32
LATENCY = 0.02
ROUNDS = 3
SECRETS = { smtp_password: "bench-smtp-password" }.freeze

# Launches `n` tenants (t000...) split round-robin over `threads` Ruby threads on one fresh
# engine; the wall time and the process's CPU time (every thread, user and system) of the
# launches, in seconds.
def run(n, threads, latency = nil)
  providers = Provisio::Providers.memory(fixtures: File.join(LAUNCH, "memory-fixtures.yaml"))
  providers.cloud.faults.latency("*", latency) if latency
  engine = Provisio::Engine.new(providers, Provisio::StateStore.memory)
  blueprint = Provisio::Blueprint.load(LAUNCH)
  launch = lambda do |first|
    first.step(n - 1, threads) do |i|
      report = engine.apply(blueprint, format("t%03d", i), secrets: SECRETS)
      raise "t#{i} failed" unless report[:success]
    end
  end
  cpu = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  if threads == 1
    launch.call(0)
  else
    threads.times.map { |t| Thread.new { launch.call(t) } }.each(&:join)
  end
  [Process.clock_gettime(Process::CLOCK_MONOTONIC) - started,
   Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) - cpu]
end

# Prints and returns the best and the median of `times`.
def summary(label, times)
  sorted = times.sort
  best = sorted.first
  median = sorted[sorted.size / 2]
  puts format("%s: best %.3f s, median %.3f s", label, best, median)
  [best, median]
end

# 1 thread against THREADS threads, alternating, ROUNDS rounds of each.
def compare(n, latency = nil)
  label = latency ? "ruby latency #{(latency * 1000).round} ms" : "ruby threads"
  times = { 1 => [], THREADS => [] }
  ROUNDS.times do |round|
    [1, THREADS].each do |threads|
      secs, cpu = run(n, threads, latency)
      puts format("%s round %d: %d launches on %d thread(s) in %.3f s, CPU %.2f s", label, round, n, threads,
                  secs, cpu)
      times[threads] << secs
    end
  end
  best1, median1 = summary("#{label}, 1 thread", times[1])
  best8, median8 = summary("#{label}, #{THREADS} threads", times[THREADS])
  puts format("%s: speedup %d threads over 1: %.2fx best-of-%d, %.2fx median-of-%d",
              label, THREADS, best1 / best8, ROUNDS, median1 / median8, ROUNDS)
end

n = Integer(ARGV.fetch(0, "100"))
mode = ARGV.fetch(1, "sequential")
abort "mode: sequential, threads, latency or all" unless %w[sequential threads latency all].include?(mode)

if %w[sequential all].include?(mode)
  times = ROUNDS.times.map do |round|
    secs, cpu = run(n, 1)
    puts format("ruby sequential round %d: %d launches in %.3f s (%.2f ms per launch), CPU %.2f s (%.2f ms per launch)",
                round, n, secs, secs * 1000 / n, cpu, cpu * 1000 / n)
    [secs, cpu]
  end
  summary("ruby sequential", times.map(&:first))
  summary("ruby sequential CPU", times.map(&:last))
end
compare(n) if %w[threads all].include?(mode)
compare(LATENCY_TENANTS, LATENCY) if %w[latency all].include?(mode)

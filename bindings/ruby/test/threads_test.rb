# frozen_string_literal: true

require_relative "test_helper"

class ThreadsTest < Minitest::Test
  include Provisio::Testing
  include LaunchExample

  def setup
    @engine = provisio_engine(fixtures: FIXTURES)
  end

  def test_eight_threads_launch_eight_tenants_at_once
    provisio_cloud.faults.latency("*", 0.005)
    tenants = 8.times.map { |i| "tenant#{i}" }
    threads = tenants.map do |t|
      Thread.new do
        seen = []
        report = @engine.apply(BLUEPRINT, t, secrets: SMTP) { |e| seen << e[:tenant] }
        [report[:success], seen.uniq]
      end
    end
    results = threads.map(&:value)
    assert results.all? { |ok, _| ok }
    # each thread saw only its own tenant's events
    assert_equal tenants.map { |t| [t] }, results.map(&:last)
    tenants.each { |t| assert_provisio_resource "compute.instance", name: "#{t}-web" }
    assert_provisio_count "compute.instance", 8
  end

  def test_the_gvl_is_released_while_a_run_works
    provisio_cloud.faults.latency("*", 0.02)
    ticks = 0
    ticker = Thread.new { loop { ticks += 1; sleep 0.005 } }
    @engine.apply(BLUEPRINT, "acme", secrets: SMTP)
    ticker.kill
    assert_operator ticks, :>, 20
  end

  def test_timeout_cancels_cleanly_and_a_second_apply_resumes
    provisio_cloud.faults.latency("*", 0.05)
    events = []
    started = Time.now
    assert_raises(Timeout::Error) do
      Timeout.timeout(0.3) { @engine.apply(BLUEPRINT, "acme", secrets: SMTP) { |e| events << e } }
    end
    assert_operator Time.now - started, :<, 10
    done = events.map { |e| e[:type] }
    assert_includes done, "run_started"
    assert_operator done.count("step_succeeded"), :<, RESOURCES
    assert_includes done, "run_finished" # the cancelled run still ended, journal written
    provisio_cloud.faults.clear
    report = @engine.apply(BLUEPRINT, "acme", secrets: SMTP)
    assert report[:success]
    # resumed: what the cancelled run made is not made again
    assert_operator report[:summary][:created], :<, RESOURCES
    assert_equal RESOURCES, @engine.plan(BLUEPRINT, "acme", secrets: SMTP)[:counts][:no_op]
  end

  def test_thread_raise_stops_a_run
    provisio_cloud.faults.latency("*", 0.05)
    started = Queue.new
    runner = Thread.new do
      Thread.current.report_on_exception = false
      @engine.apply(BLUEPRINT, "acme", secrets: SMTP) { |e| started << true if e[:type] == "step_started" }
    end
    started.pop
    runner.raise(Interrupt)
    assert_raises(Interrupt) { runner.join }
    provisio_cloud.faults.clear
    assert @engine.apply(BLUEPRINT, "acme", secrets: SMTP)[:success]
  end

  def test_thread_kill_stops_a_run_and_the_next_apply_resumes
    provisio_cloud.faults.latency("*", 0.05)
    started = Queue.new
    runner = Thread.new do
      @engine.apply(BLUEPRINT, "acme", secrets: SMTP) { |e| started << true if e[:type] == "step_started" }
    end
    started.pop
    runner.kill
    runner.join
    refute runner.alive?
    provisio_cloud.faults.clear
    # no lock error: the killed run released its lease
    assert @engine.apply(BLUEPRINT, "acme", secrets: SMTP)[:success]
  end

  def test_a_second_thread_on_the_same_tenant_gets_the_lock_error
    provisio_cloud.faults.latency("*", 0.05)
    started = Queue.new
    first = Thread.new do
      @engine.apply(BLUEPRINT, "acme", secrets: SMTP) { |e| started << true if e[:type] == "step_started" }
    end
    started.pop
    err = assert_raises(Provisio::ConflictError) { @engine.apply(BLUEPRINT, "acme", secrets: SMTP) }
    assert_match(/locked/, err.message)
    assert first.value[:success]
  end

  def test_direct_calls_are_interruptible_too
    provisio_cloud.faults.latency("dns.find_zone", 5.0)
    started = Time.now
    assert_raises(Timeout::Error) { Timeout.timeout(0.2) { provisio_cloud.dns.find_zone("example.com") } }
    assert_operator Time.now - started, :<, 3
  end

  # Ctrl-C on a single-threaded process: the main thread waits alone (Ruby joins a helper
  # thread after the wait, where the Interrupt surfaces); the run must still stop cleanly.
  CHILD = <<~'RUBY'
    trap("INT", "DEFAULT") # Ruby's own handler (raise Interrupt), even if INT was ignored
    require "provisio/testing"
    include Provisio::Testing
    engine = provisio_engine(fixtures: LAUNCH_FIXTURES)
    provisio_cloud.faults.latency("*", 0.3)
    secrets = { smtp_password: "x-pw" }
    begin
      engine.apply(LAUNCH_BLUEPRINT, "acme", secrets: secrets) do |event|
        if event[:type] == "run_started"
          $stdout.puts "started"
          $stdout.flush
        end
      end
      puts "finished"
    rescue Interrupt
      puts "interrupted"
    end
    provisio_cloud.faults.clear
    report = engine.apply(LAUNCH_BLUEPRINT, "acme", secrets: secrets)
    puts "resumed #{report[:success]} #{report[:summary][:created] < 24}"
  RUBY

  def test_ctrl_c_stops_a_run_cleanly_and_a_second_apply_resumes
    lib = File.dirname($LOADED_FEATURES.grep(%r{/provisio\.rb\z}).first)
    IO.popen([{ "PROVISIO_EXAMPLE_DIR" => Provisio::Testing::EXAMPLE_DIR, "RUST_BACKTRACE" => "0" },
              RbConfig.ruby, "-I", lib, "-e", CHILD, { err: %i[child out] }]) do |io|
      assert_equal "started", io.gets&.chomp
      sleep 0.5
      Process.kill(:INT, io.pid)
      rest = io.read
      assert_includes rest, "interrupted"
      assert_includes rest, "resumed true true"
    end
    assert $?.success?
  end
end

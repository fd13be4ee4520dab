# frozen_string_literal: true

require_relative "test_helper"
require "net/http"
require "securerandom"

# The AWS and PostgreSQL part of the launch, from Ruby, against moto and a real PostgreSQL,
# through the provider configuration a Rails Automator writes. scripts/test.sh starts both and
# sets PROVISIO_TEST_AWS_ENDPOINT / PROVISIO_TEST_POSTGRES_URL; without them the tests skip.
#
# What is on the servers is read by a witness that shares nothing with provisio's clients: plain
# HTTP to moto (which accepts any signature) for the DNS record and the tenant's objects.
class AwsPostgresTest < Minitest::Test
  include LaunchExample

  AWS_ENDPOINT = ENV.fetch("PROVISIO_TEST_AWS_ENDPOINT", nil)
  POSTGRES_URL = ENV.fetch("PROVISIO_TEST_POSTGRES_URL", nil)
  MOTO_AMI = "ami-12c6146b"

  def setup
    @saved_env = ENV.to_h.slice("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
  end

  def teardown
    %w[AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY].each { |k| ENV[k] = @saved_env[k] }
  end

  def test_launch_database_on_postgres
    skip "PROVISIO_TEST_POSTGRES_URL is not set (scripts/test.sh sets it)" unless POSTGRES_URL
    tenant = "rb#{SecureRandom.hex(4)}"
    providers = Provisio::Providers.new({
                                          fallback: "memory",
                                          memory: { fixtures: FIXTURES },
                                          providers: { database: { default: postgres_entry } }
                                        })
    engine = Provisio::Engine.new(providers, POSTGRES_URL)
    assert engine.apply(BLUEPRINT, tenant, secrets: SMTP)[:success]
    db = providers.database
    assert db.database_exists?(tenant), "database #{tenant} on the server"
    assert db.role_exists?(tenant), "role #{tenant} on the server"
    refute engine.plan(BLUEPRINT, tenant, secrets: SMTP)[:has_changes]
    # the database is protected: a destroy that does not name it keeps it (and its owner role)
    kept = engine.destroy(BLUEPRINT, tenant)
    assert_includes kept[:kept_protected], "database"
    assert db.database_exists?(tenant)
    assert db.role_exists?(tenant)
    engine.destroy(BLUEPRINT, tenant, allow: ["database"])
    refute db.database_exists?(tenant)
    refute db.role_exists?(tenant)
  end

  def test_launch_on_moto_and_postgres
    skip "PROVISIO_TEST_AWS_ENDPOINT and PROVISIO_TEST_POSTGRES_URL are not both set" unless AWS_ENDPOINT && POSTGRES_URL
    assert_includes Provisio.kinds, "aws"
    # moto accepts any credentials; the aws kind reads the standard chain
    ENV["AWS_ACCESS_KEY_ID"] = "testing"
    ENV["AWS_SECRET_ACCESS_KEY"] = "testing"
    run = SecureRandom.hex(4)
    tenant = "rb#{run}"
    domain = "rb-#{run}.test"
    bucket = "provisio-rb-assets-#{run}"
    zone_id = create_hosted_zone(domain)
    aws = { kind: "aws", region: "us-east-1", endpoint_url: AWS_ENDPOINT }
    providers = Provisio::Providers.new({
                                          fallback: "memory",
                                          memory: { fixtures: FIXTURES },
                                          providers: {
                                            dns: { default: aws }, storage: { default: aws },
                                            compute: { default: aws }, secrets: { default: aws },
                                            mail: { default: aws }, database: { default: postgres_entry }
                                          }
                                        })
    storage = providers.storage
    storage.ensure_bucket(bucket)
    storage.put_object(bucket, "initial/robots.txt", "User-agent: *\n")
    engine = Provisio::Engine.new(providers, :memory)
    vars = { domain: domain, image: MOTO_AMI, size: "t3.micro", assets_bucket: bucket }
    events = []
    report = engine.apply(BLUEPRINT, tenant, vars: vars, secrets: SMTP) { |e| events << e }
    assert report[:success]
    assert_equal RESOURCES, report[:summary][:created]
    assert_equal RESOURCES, events.count { |e| e[:type] == "step_succeeded" }

    # on the servers, read by the witness
    records = moto_get("/2013-04-01/hostedzone/#{zone_id}/rrset", "route53")
    assert_includes records, "<Name>#{tenant}.#{domain}.</Name>"
    assert_includes records, "<Name>#{tenant}.stg.#{domain}.</Name>"
    objects = moto_get("/#{bucket}?list-type=2&prefix=tenants/#{tenant}/", "s3")
    assert_includes objects, "<Key>tenants/#{tenant}/robots.txt</Key>"
    secret = providers.secrets.get_secret("#{tenant}-smtp-password")
    assert_equal SMTP[:smtp_password], secret[:value].reveal
    refute_includes secret.inspect, SMTP[:smtp_password]
    assert providers.database.database_exists?(tenant)

    again = engine.apply(BLUEPRINT, tenant, vars: vars, secrets: SMTP)
    assert_equal 0, again[:summary][:created]
    engine.destroy(BLUEPRINT, tenant, allow: ["database"])
    records = moto_get("/2013-04-01/hostedzone/#{zone_id}/rrset", "route53")
    refute_includes records, "<Name>#{tenant}.#{domain}.</Name>"
    objects = moto_get("/#{bucket}?list-type=2&prefix=tenants/#{tenant}/", "s3")
    refute_includes objects, "<Key>"
    refute providers.database.database_exists?(tenant)
  end

  private

  def postgres_entry
    entry = { kind: "postgres", url: POSTGRES_URL }
    # the test server is a local cluster without TLS
    entry[:sslmode] = "disable" unless POSTGRES_URL.include?("sslmode=")
    entry
  end

  # moto routes a request to a service by the credential scope of its signature and accepts any
  # signature.
  def moto_headers(service)
    { "Authorization" => "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/#{service}/aws4_request, " \
                         "SignedHeaders=host, Signature=0" }
  end

  # Operators own their zones: the test creates one with a plain REST call. Returns its id.
  def create_hosted_zone(name)
    body = '<?xml version="1.0" encoding="UTF-8"?>' \
           '<CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/">' \
           "<Name>#{name}</Name><CallerReference>provisio-rb-#{name}</CallerReference>" \
           "</CreateHostedZoneRequest>"
    uri = URI("#{AWS_ENDPOINT}/2013-04-01/hostedzone")
    response = Net::HTTP.post(uri, body, moto_headers("route53").merge("Content-Type" => "application/xml"))
    assert_includes %w[200 201], response.code, response.body
    response.body[%r{<Id>/hostedzone/([^<]+)</Id>}, 1] or flunk("no zone id in #{response.body}")
  end

  def moto_get(path, service)
    uri = URI("#{AWS_ENDPOINT}#{path}")
    response = Net::HTTP.get_response(uri, moto_headers(service))
    assert_equal "200", response.code, response.body
    response.body
  end
end

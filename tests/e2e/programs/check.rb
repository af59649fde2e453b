# ruby check.rb PORT CA_FILE: JSON, a SHA-256 digest, then the body of
# https://127.0.0.1:PORT/ verified against CA_FILE.
require "digest"
require "json"
require "openssl"
require "socket"

port, ca_file = ARGV
puts "ruby #{RUBY_VERSION} #{JSON.generate(ok: true, sha256: Digest::SHA256.hexdigest("abc")[0, 16])}"
context = OpenSSL::SSL::SSLContext.new
context.set_params(verify_mode: OpenSSL::SSL::VERIFY_PEER, ca_file: ca_file)
socket = OpenSSL::SSL::SSLSocket.new(TCPSocket.new("127.0.0.1", Integer(port)), context)
socket.connect
socket.write("GET / HTTP/1.0\r\n\r\n")
body = socket.read.split("\r\n\r\n", 2).last
puts "https #{socket.ssl_version} #{body.strip}"

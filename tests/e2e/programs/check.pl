# perl check.pl PORT CA_FILE: JSON, a SHA-256 digest, then the body of
# https://127.0.0.1:PORT/ verified against CA_FILE.
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);
use IO::Socket::SSL;
use JSON::PP;

my ($port, $ca_file) = @ARGV;
print "perl $^V ", JSON::PP->new->canonical->encode({sha256 => substr(sha256_hex("abc"), 0, 16), ok => JSON::PP::true}), "\n";
my $socket = IO::Socket::SSL->new(PeerHost => "127.0.0.1", PeerPort => $port, SSL_ca_file => $ca_file, Timeout => 10)
    or die "tls: $IO::Socket::SSL::SSL_ERROR\n";
print $socket "GET / HTTP/1.0\r\n\r\n";
my $response = do { local $/; <$socket> };
my ($body) = $response =~ /\r\n\r\n(.*)\n\z/s;
print "https ", $socket->get_sslversion, " $body\n";

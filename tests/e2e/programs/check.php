<?php
// php check.php PORT CA_FILE: JSON, a SHA-256 digest, then the body of
// https://127.0.0.1:PORT/ verified against CA_FILE.
[, $port, $caFile] = $argv;
echo "php ", PHP_MAJOR_VERSION, ".", PHP_MINOR_VERSION, " ",
    json_encode(["ok" => true, "sha256" => substr(hash("sha256", "abc"), 0, 16)]), "\n";
$context = stream_context_create(["ssl" => ["cafile" => $caFile, "verify_peer" => true]]);
$socket = stream_socket_client("ssl://127.0.0.1:$port", $errno, $error, 10, STREAM_CLIENT_CONNECT, $context);
if ($socket === false) {
    fwrite(STDERR, "tls: $error\n");
    exit(1);
}
fwrite($socket, "GET / HTTP/1.0\r\n\r\n");
$response = stream_get_contents($socket);
$body = substr($response, strpos($response, "\r\n\r\n") + 4);
echo "https ", stream_get_meta_data($socket)["crypto"]["protocol"], " ", trim($body), "\n";

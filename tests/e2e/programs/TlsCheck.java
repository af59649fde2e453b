// Prints the runtime version, counts the default trust store's CAs and
// makes an HTTPS request to 127.0.0.1:<port>, trusting only that store,
// printing the body's first line.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

public class TlsCheck {
    public static void main(String[] args) throws Exception {
        System.out.println("java " + Runtime.version().feature());
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init((KeyStore) null);
        X509TrustManager trust = (X509TrustManager) factory.getTrustManagers()[0];
        System.out.println("trusted " + trust.getAcceptedIssuers().length);
        SSLSocketFactory sockets = (SSLSocketFactory) SSLSocketFactory.getDefault();
        try (SSLSocket socket = (SSLSocket) sockets.createSocket("127.0.0.1", Integer.parseInt(args[0]))) {
            socket.setSoTimeout(10000);
            socket.startHandshake();
            socket.getOutputStream().write("GET / HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            BufferedReader reader = new BufferedReader(
                new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
            String line = reader.readLine();
            while (line != null && !line.isEmpty()) {
                line = reader.readLine();
            }
            System.out.println("tls " + socket.getSession().getProtocol() + " " + reader.readLine());
        }
    }
}

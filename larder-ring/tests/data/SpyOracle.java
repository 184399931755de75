// Produces spymemcached_vectors.tsv: key -> node placements and getSequence failover
// orders made by spymemcached's own KetamaNodeLocator (Debian's libspymemcached-java,
// 2.12.3), for larder-ring's Distribution::Spymemcached.
//
// usage (Debian: apt-get install libspymemcached-java default-jdk-headless):
//   javac -cp /usr/share/java/spymemcached.jar -d /tmp/spyo SpyOracle.java
//   java -cp /usr/share/java/spymemcached.jar:/tmp/spyo SpyOracle keys.tsv > spymemcached_vectors.tsv
//
// Nodes are stand-ins (java.lang.reflect.Proxy) that only answer getSocketAddress(), so
// no server is needed. Keys that are not valid UTF-8 are skipped (a Java String cannot
// carry them).
import java.io.*;
import java.lang.reflect.Proxy;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.*;
import java.util.*;
import net.spy.memcached.*;

public class SpyOracle {
    static List<String[]> keys = new ArrayList<>();

    static MemcachedNode node(InetSocketAddress addr) {
        return (MemcachedNode) Proxy.newProxyInstance(SpyOracle.class.getClassLoader(),
            new Class<?>[] {MemcachedNode.class}, (proxy, m, args) -> {
                switch (m.getName()) {
                    case "getSocketAddress": return addr;
                    case "hashCode": return System.identityHashCode(proxy);
                    case "equals": return proxy == args[0];
                    case "toString": return "node " + addr;
                    default: throw new UnsupportedOperationException(m.getName());
                }
            });
    }

    // servers: "host:port[:weight]" (host "[v6]" allowed; "~host" = unresolved)
    static void config(String name, KetamaNodeKeyFormatter.Format format, DefaultHashAlgorithm alg,
                       boolean weighted, String... servers) {
        List<MemcachedNode> nodes = new ArrayList<>();
        Map<InetSocketAddress, Integer> weights = new HashMap<>();
        List<String> specs = new ArrayList<>();
        for (String s : servers) {
            String[] parts;
            String host;
            if (s.startsWith("[")) {
                int close = s.indexOf(']');
                host = s.substring(1, close);
                parts = s.substring(close + 2).split(":");
                parts = new String[] {host, parts[0], parts.length > 1 ? parts[1] : "1"};
            } else {
                String[] p = s.split(":");
                parts = new String[] {p[0], p[1], p.length > 2 ? p[2] : "1"};
            }
            InetSocketAddress addr = parts[0].startsWith("~")
                ? InetSocketAddress.createUnresolved(parts[0].substring(1), Integer.parseInt(parts[1]))
                : new InetSocketAddress(parts[0], Integer.parseInt(parts[1]));
            nodes.add(node(addr));
            if (weighted) weights.put(addr, Integer.parseInt(parts[2]));
            // What the formatter names the node (for the record; larder-ring must agree).
            String pointName = new KetamaNodeKeyFormatter(format).getKeyForNode(nodes.get(nodes.size() - 1), 0);
            specs.add(s + "=" + pointName.substring(0, pointName.length() - 2));
        }
        KetamaNodeLocator loc = new KetamaNodeLocator(nodes, alg, format, weights);
        System.out.println("#config\t" + name + "\t" + format + "\t" + alg + "\t" + (weighted ? 1 : 0)
            + "\t" + String.join(",", specs));
        for (String[] k : keys) {
            StringBuilder row = new StringBuilder(name + "\t" + k[0] + "\t" + nodes.indexOf(loc.getPrimary(k[1])) + "\t");
            Iterator<MemcachedNode> seq = loc.getSequence(k[1]);
            String sep = "";
            while (seq.hasNext()) { row.append(sep).append(nodes.indexOf(seq.next())); sep = ","; }
            System.out.println(row);
        }
    }

    public static void main(String[] argv) throws Exception {
        CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        try (BufferedReader r = new BufferedReader(new FileReader(argv[0]))) {
            r.readLine();
            for (String line; (line = r.readLine()) != null; ) {
                String[] f = line.split("\t");
                byte[] b = new byte[f[3].length() / 2];
                for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(f[3].substring(2 * i, 2 * i + 2), 16);
                try {
                    keys.add(new String[] {f[0], dec.decode(ByteBuffer.wrap(b)).toString()});
                } catch (CharacterCodingException e) {
                    // not UTF-8: no Java String holds it
                }
            }
        }
        KetamaNodeKeyFormatter.Format SPY = KetamaNodeKeyFormatter.Format.SPYMEMCACHED;
        KetamaNodeKeyFormatter.Format LIB = KetamaNodeKeyFormatter.Format.LIBMEMCACHED;
        String[] s4 = {"10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11212", "10.0.0.4:22122"};
        String[] w4 = {"10.0.0.1:11211:1", "10.0.0.2:11211:2", "10.0.0.3:11212:3", "10.0.0.4:22122:5"};
        config("spy_spyfmt_ketama_S4", SPY, DefaultHashAlgorithm.KETAMA_HASH, false, s4);
        config("spy_libfmt_ketama_S4", LIB, DefaultHashAlgorithm.KETAMA_HASH, false, s4);
        config("spy_spyfmt_fnv1a64_S4", SPY, DefaultHashAlgorithm.FNV1A_64_HASH, false, s4);
        config("spy_libfmt_fnv1a64_S4", LIB, DefaultHashAlgorithm.FNV1A_64_HASH, false, s4);
        config("spy_spyfmt_fnv1_64_S4", SPY, DefaultHashAlgorithm.FNV1_64_HASH, false, s4);
        config("spy_spyfmt_fnv1_32_S4", SPY, DefaultHashAlgorithm.FNV1_32_HASH, false, s4);
        config("spy_spyfmt_fnv1a_32_S4", SPY, DefaultHashAlgorithm.FNV1A_32_HASH, false, s4);
        config("spy_spyfmt_crc_S4", SPY, DefaultHashAlgorithm.CRC_HASH, false, s4);
        config("spy_spyfmt_weighted_ketama_W4", SPY, DefaultHashAlgorithm.KETAMA_HASH, true, w4);
        config("spy_libfmt_weighted_ketama_W4", LIB, DefaultHashAlgorithm.KETAMA_HASH, true, w4);
        config("spy_spyfmt_weighted_fnv1a64_W4", SPY, DefaultHashAlgorithm.FNV1A_64_HASH, true, w4);
        config("spy_names_ketama", SPY, DefaultHashAlgorithm.KETAMA_HASH, false,
            "localhost:11211", "localhost:11212", "[::1]:11213", "~cache-d.invalid:11211");
        config("spy_names_libfmt_ketama", LIB, DefaultHashAlgorithm.KETAMA_HASH, false,
            "localhost:11211", "localhost:11212", "~cache-d.invalid:11211");
        String[] eleven = new String[11];
        for (int i = 0; i < 11; i++) eleven[i] = "10.1.0." + (i + 1) + ":" + (11211 + i % 3) + ":" + (1 + (i * 37) % 11);
        config("spy_spyfmt_weighted_ketama_W11", SPY, DefaultHashAlgorithm.KETAMA_HASH, true, eleven);
    }
}

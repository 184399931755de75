<?php
// php-memcached's Memcached::getAllKeys() (libmemcached's memcached_dump: `stats
// cachedump CLASS 0` for every class id), one key a line.
// Usage: php php_getallkeys.php HOST PORT
if (!class_exists('Memcached')) {
    fwrite(STDERR, "the memcached extension is not loaded (php-memcached)\n");
    exit(2);
}
$m = new Memcached();
$m->addServer($argv[1], (int)$argv[2]);
$keys = $m->getAllKeys();
if ($keys === false) {
    fwrite(STDERR, "getAllKeys failed: " . $m->getResultMessage() . " (" . $m->getResultCode() . ")\n");
    exit(1);
}
foreach ($keys as $k) {
    echo $k, "\n";
}

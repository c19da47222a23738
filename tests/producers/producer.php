<?php
// A website's producer in PHP (PDO sqlite), as the README shows it.
//
// producer.php DB insert PREFIX N   queue N signups, one transaction each; print their ids
// producer.php DB status ID...      print each signup's state, reason, sent_at, message_id
// producer.php DB forbidden         try to insert state='sent'; print the database's refusal

function connect(string $path): PDO {
    $db = new PDO('sqlite:' . $path, null, null, [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
    // A busy timeout: the daemon and other producers write the same file.
    $db->exec('PRAGMA busy_timeout = 5000');
    return $db;
}

// $tasks and $skills: an array, or null (NULL) for none.
function insert_signup(PDO $db, string $email, ?string $name, string $role, string $level,
                       ?array $tasks, ?array $skills, ?float $years): int {
    $st = $db->prepare('INSERT INTO signups (email, name, role, level, tasks, skills, years)'
                       . ' VALUES (?, ?, ?, ?, ?, ?, ?)');
    $st->execute([$email, $name, $role, $level,
                  $tasks === null ? null : json_encode($tasks),
                  $skills === null ? null : json_encode($skills), $years]);
    return (int)$db->lastInsertId();
}

// tasks and skills left out altogether.
function insert_minimal(PDO $db, string $email, string $role, string $level): int {
    $st = $db->prepare('INSERT INTO signups (email, role, level) VALUES (?, ?, ?)');
    $st->execute([$email, $role, $level]);
    return (int)$db->lastInsertId();
}

function signup_status(PDO $db, int $id): array {
    $st = $db->prepare('SELECT state, reason, sent_at, message_id FROM signup_status WHERE id = ?');
    $st->execute([$id]);
    return $st->fetch(PDO::FETCH_NUM);
}

$db = connect($argv[1]);
switch ($argv[2]) {
case 'insert':
    $prefix = $argv[3];
    for ($i = 0; $i < (int)$argv[4]; $i++) {
        $email = "$prefix-$i@example.org";
        if ($i % 3 == 0)
            $id = insert_signup($db, $email, "Php $i", 'backend-developer', 'mid', null, null, null);
        elseif ($i % 3 == 1)
            $id = insert_minimal($db, $email, 'backend-developer', 'mid');
        else
            $id = insert_signup($db, $email, "Php $i", 'backend-developer', 'senior',
                                ['write-production-code', ['id' => 'review-code', 'share' => 40]],
                                ['sql'], 7);
        echo $id, "\n";
    }
    break;
case 'status':
    foreach (array_slice($argv, 3) as $id) {
        [$state, $reason, $sent_at, $message_id] = signup_status($db, (int)$id);
        echo "$id\t$state\t", $reason ?? '', "\t", $sent_at ?? '', "\t", $message_id ?? '', "\n";
    }
    break;
case 'forbidden':
    try {
        $db->exec("INSERT INTO signups (email, role, level, state)"
                  . " VALUES ('forbidden@example.org', 'backend-developer', 'mid', 'sent')");
    } catch (PDOException $e) {
        echo $e->getMessage(), "\n";
        exit(0);
    }
    exit(1);
}

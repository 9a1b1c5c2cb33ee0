package messages

// testRoom is the room the tests sign frames for.
const testRoom = "chat.example.com/rooms/1"

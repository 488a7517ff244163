package query

// ChangesMeaning is changesMeaning, for tests.
var ChangesMeaning = changesMeaning

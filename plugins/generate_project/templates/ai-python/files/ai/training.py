# Training sentences per resource of the {{project.slug}} project, built from
# the spec: resource names, titles and field names. Labels are the singular
# names; RESOURCE_OF maps them to the resource (the API's URL segment).
RESOURCE_OF = {
{{#resources}}
    "{{singular}}": "{{name}}",
{{/resources}}
}

TRAINING = [
{{#resources}}
    ("{{title}}", "{{singular}}"),
    ("{{singular}}", "{{singular}}"),
    ("list all {{name}}", "{{singular}}"),
    ("create a new {{singular}}", "{{singular}}"),
    ("update the {{singular}}", "{{singular}}"),
    ("delete this {{singular}}", "{{singular}}"),
{{#fields}}
    ("{{singular}} {{name}}", "{{singular}}"),
    ("the {{title}} of the {{singular}}", "{{singular}}"),
{{/fields}}
{{/resources}}
]
